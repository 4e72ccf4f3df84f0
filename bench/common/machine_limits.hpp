#pragma once
// The machine's own limits, measured in the same run as each benchmark so a
// result can be read against what this machine, at this moment, can do:
//   memcpy       GB/s copying large buffers (memory bandwidth)
//   simdjson     DOM parse of NDJSON generator events, line by line (the
//                ingest parser's approach), events/s and MB/s
//   RocksDB      raw WriteBatch of 64 KiB values with the WAL on and no
//                sync, into a temp dir, MB/s (what the event log sits on)
#include "common/report.hpp"

namespace shoppulse::bench {

struct MachineLimits {
  double memcpy_gb_per_s = 0;
  double json_events_per_s = 0;
  double json_mb_per_s = 0;
  double rocksdb_mb_per_s = 0;
};

// Measures and prints under a "machine limits" section; quick runs are tiny.
MachineLimits measure_machine_limits(Report& report, bool quick);

}  // namespace shoppulse::bench
