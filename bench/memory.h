// Host memory of this process from /proc/self/status: peak resident set (VmHWM) and
// current (VmRSS), in bytes. The peak is reset per case by writing "5" to
// /proc/self/clear_refs (Linux >= 4.0) so a case's figure is its own, not the
// largest so far; where that is refused the report says so (peak_rss_reset false).
#pragma once

#include <cstdint>

namespace cpb::bench {

int64_t peak_rss_bytes();     // VmHWM; 0 when unavailable
int64_t current_rss_bytes();  // VmRSS; 0 when unavailable
bool reset_peak_rss();        // true when the kernel accepted the reset

}  // namespace cpb::bench
