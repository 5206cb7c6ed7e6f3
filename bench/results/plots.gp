# Made by shmring_bench --plot (2026-11-22 06:27 UTC); run `gnuplot plots.gp` in this directory to redraw
# (the data behind the plots is in data/).
set terminal pngcairo size 1000,640 font ',10'
set grid
set key outside right
set linetype 1 lc rgb '#000000' lw 2 pt 1
set linetype 2 lc rgb '#7f7f7f' lw 2 pt 2
set linetype 3 lc rgb '#d62728' lw 2 pt 3
set linetype 4 lc rgb '#ff9896' lw 2 pt 4
set linetype 5 lc rgb '#1f77b4' lw 2 pt 5
set linetype 6 lc rgb '#aec7e8' lw 2 pt 6
set linetype 7 lc rgb '#2ca02c' lw 2 pt 7
set linetype 8 lc rgb '#98df8a' lw 2 pt 1
set linetype 9 lc rgb '#9467bd' lw 2 pt 2
set linetype 10 lc rgb '#8c564b' lw 2 pt 3
set linetype 11 lc rgb '#e377c2' lw 2 pt 4
set linetype 12 lc rgb '#bcbd22' lw 2 pt 5
set output 'latency_cdf.png'
set title 'Ping-pong round trip, 64-byte messages: CDF per transport (2026-11-22 06:27 UTC)'
set logscale x
set xlabel 'round trip, ns (log)'
set ylabel 'fraction of round trips <= x'
set yrange [0:1]
plot 'data/cdf_cacheline.dat' using 1:2 with steps lt 1 title 'cacheline', \
     'data/cdf_spsc.dat' using 1:2 with steps lt 3 title 'spsc', \
     'data/cdf_spsc-sleep.dat' using 1:2 with steps lt 4 title 'spsc-sleep', \
     'data/cdf_mpmc.dat' using 1:2 with steps lt 5 title 'mpmc', \
     'data/cdf_mpmc-sleep.dat' using 1:2 with steps lt 6 title 'mpmc-sleep', \
     'data/cdf_pipe.dat' using 1:2 with steps lt 7 title 'pipe', \
     'data/cdf_fifo.dat' using 1:2 with steps lt 8 title 'fifo', \
     'data/cdf_unix.dat' using 1:2 with steps lt 9 title 'unix', \
     'data/cdf_tcp.dat' using 1:2 with steps lt 10 title 'tcp', \
     'data/cdf_msgq.dat' using 1:2 with steps lt 11 title 'msgq', \
     'data/cdf_shmsem.dat' using 1:2 with steps lt 12 title 'shmsem'
unset yrange
set output 'throughput.png'
set title 'One-way stream: payload GB/s against record size (2026-11-22 06:27 UTC)'
set logscale xy
set xlabel 'record size, bytes (log)'
set ylabel 'GB/s (log)'
plot 'data/stream_memcpy.dat' using 1:2 with linespoints lt 2 title 'memcpy', \
     'data/stream_spsc.dat' using 1:2 with linespoints lt 3 title 'spsc', \
     'data/stream_spsc-sleep.dat' using 1:2 with linespoints lt 4 title 'spsc-sleep', \
     'data/stream_mpmc.dat' using 1:2 with linespoints lt 5 title 'mpmc', \
     'data/stream_mpmc-sleep.dat' using 1:2 with linespoints lt 6 title 'mpmc-sleep', \
     'data/stream_pipe.dat' using 1:2 with linespoints lt 7 title 'pipe', \
     'data/stream_fifo.dat' using 1:2 with linespoints lt 8 title 'fifo', \
     'data/stream_unix.dat' using 1:2 with linespoints lt 9 title 'unix', \
     'data/stream_tcp.dat' using 1:2 with linespoints lt 10 title 'tcp', \
     'data/stream_msgq.dat' using 1:2 with linespoints lt 11 title 'msgq', \
     'data/stream_shmsem.dat' using 1:2 with linespoints lt 12 title 'shmsem'
set output 'rtt_vs_size.png'
set title 'Ping-pong round trip p50 against message size (2026-11-22 06:27 UTC)'
set logscale xy
set xlabel 'message size, bytes (log)'
set ylabel 'p50 round trip, ns (log)'
plot 'data/pingpong_spsc.dat' using 1:2 with linespoints lt 3 title 'spsc', \
     'data/pingpong_spsc-sleep.dat' using 1:2 with linespoints lt 4 title 'spsc-sleep', \
     'data/pingpong_mpmc.dat' using 1:2 with linespoints lt 5 title 'mpmc', \
     'data/pingpong_mpmc-sleep.dat' using 1:2 with linespoints lt 6 title 'mpmc-sleep', \
     'data/pingpong_pipe.dat' using 1:2 with linespoints lt 7 title 'pipe', \
     'data/pingpong_fifo.dat' using 1:2 with linespoints lt 8 title 'fifo', \
     'data/pingpong_unix.dat' using 1:2 with linespoints lt 9 title 'unix', \
     'data/pingpong_tcp.dat' using 1:2 with linespoints lt 10 title 'tcp', \
     'data/pingpong_msgq.dat' using 1:2 with linespoints lt 11 title 'msgq', \
     'data/pingpong_shmsem.dat' using 1:2 with linespoints lt 12 title 'shmsem'
