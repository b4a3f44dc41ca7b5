// Below this size a changed file is sent whole rather than by block delta.
//
// Measured with bench/engine-threshold.ts (one byte edited mid-file; fastest of ≥40 runs on the 2-core CI box
// under load; wire cost = bytes / throughput). The delta path costs ~0.4–0.5 ms more per file (signature, a second
// open of the basis, rolling match) whatever the size, and saves almost all bytes:
//   size      whole µs  delta µs   bytes whole/delta   total µs @30 MB/s (whole/delta)   @loopback ~200 MB/s
//   8 KiB       611       811        8208/768             884/836                          656/815
//   16 KiB      340       846       16400/960             886/878                          430/851
//   32 KiB      351       897       32784/1344           1444/942                          532/904
//   64 KiB      375       961       65552/1864           2560/1023                         737/971
//   256 KiB     619      1725      262208/3652           9359/1847                        2067/1746
// Crossover: 8–32 KiB over a port-forward-like 30 MB/s link (runs vary), ~256 KiB on loopback. 32 KiB sits at the
// top of the slow-link crossover: typical source files (1–30 KB) go whole, which is cheaper on fast links and costs
// at most ~0.1 ms a file on slow ones. PushOptions.wholeFileBelow overrides it.
export const WHOLE_FILE_BELOW = 32 * 1024;
