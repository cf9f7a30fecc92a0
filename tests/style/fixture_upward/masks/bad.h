// Fixture: a masks/ header that includes up the stack; the checker must reject it.
#pragma once

#include "kernels/kernel.h"
