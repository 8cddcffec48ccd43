# `sopfs bench fs` end to end on tiny sizes: bad arguments get a one-line error and exit
# code 2; a real run formats and mounts a volume (needs /dev/fuse and fusermount3),
# measures it against the native folder, ends with one JSON object holding every figure
# the issue names, and leaves neither its work folder nor a mount behind.
# Run by ctest with -DSOPFS=... -DWORKDIR=...; fails without FUSE.

include(${CMAKE_CURRENT_LIST_DIR}/bench_expect.cmake)

expect_exit(2 ${SOPFS} bench fs --size banana)
if(NOT last_stderr MATCHES "--size")
  message(FATAL_ERROR "no clear message for a bad --size: ${last_stderr}")
endif()
expect_exit(2 ${SOPFS} bench fs --ec 4-2)
expect_exit(2 ${SOPFS} bench fs --no-such-option)
expect_exit(0 ${SOPFS} bench fs --help)
if(NOT last_stdout MATCHES "--json" OR NOT last_stdout MATCHES "--keep")
  message(FATAL_ERROR "bench fs --help does not list --json and --keep: ${last_stdout}")
endif()

find_program(FUSERMOUNT3 fusermount3)
if(NOT EXISTS /dev/fuse OR NOT FUSERMOUNT3)
  # The file system needs FUSE; a machine without it fails here rather than skip.
  message(FATAL_ERROR "no /dev/fuse or fusermount3: cannot mount (install fuse3)")
endif()

set(dir ${WORKDIR}/cli-bench-fs)
file(REMOVE_RECURSE ${dir})
file(MAKE_DIRECTORY ${dir})
expect_exit(0 ${SOPFS} bench fs --json --size 8M --overwrite-size 8M --files 50 --rand-ops 200
            --overwrites 20 --flood-files 300 --dir ${dir})
# Creates are measured in five rounds per side, the sides taking turns.
foreach(side sopfs native)
  if(NOT last_stderr MATCHES "small-file creates/s \\(${side}\\), 5 rounds:( [0-9]+)( [0-9]+)( [0-9]+)( [0-9]+)( [0-9]+); median")
    message(FATAL_ERROR "no five rounds of creates on ${side}: ${last_stderr}")
  endif()
endforeach()
string(STRIP "${last_stdout}" out)
string(REGEX REPLACE ".*\n" "" json "${out}")
foreach(key seq_write_mib_s seq_write_native_mib_s seq_write_ratio seq_write_disk_mib_s
            seq_write_native_disk_mib_s seq_write_disk_ratio seq_read_mib_s seq_read_native_mib_s
            seq_read_ratio rand_read_qd1_iops rand_read_qd1_native_iops rand_read_qd1_ratio
            rand_read_qd16_iops rand_read_qd16_native_iops rand_read_qd16_ratio
            overwrite_4k_goal_bytes creates_per_s creates_native_per_s creates_ratio
            daemon_peak_rss_mib size_bytes chunk_size flood_files flood_4k_files_per_s
            flood_4k_native_files_per_s flood_4k_ratio flood_4k_daemon_peak_rss_mib
            flood_64k_files_per_s flood_64k_native_files_per_s flood_64k_ratio
            flood_64k_daemon_peak_rss_mib unmount_seconds
            overwrite_fsync_p50_ms native_overwrite_fsync_p50_ms overwrite_fsync_p50_ratio
            overwrite_fsync_p99_ms native_overwrite_fsync_p99_ms overwrite_fsync_count
            randread_qd1_iops native_randread_qd1_iops randread_qd1_ratio randread_qd16_iops
            native_randread_qd16_iops randread_qd16_ratio native_seq_read_mib_s
            native_seq_write_disk_mib_s copy_out_mib_s native_copy_out_mib_s copy_out_ratio
            lsr_entries_s native_lsr_entries_s lsr_ratio creates_s native_creates_s
            peak_rss_mib)
  string(JSON value ERROR_VARIABLE jerr GET "${json}" ${key})
  if(jerr OR NOT value GREATER 0)
    message(FATAL_ERROR "last line lacks a positive '${key}': ${json} ${jerr}")
  endif()
endforeach()
string(JSON value ERROR_VARIABLE jerr GET "${json}" overwrite_4k_disk_bytes)
if(jerr OR value LESS 0)
  message(FATAL_ERROR "last line lacks 'overwrite_4k_disk_bytes': ${json} ${jerr}")
endif()
string(JSON ec ERROR_VARIABLE jerr GET "${json}" ec)
if(jerr OR NOT ec MATCHES "^[0-9]+\\+[0-9]+$")
  message(FATAL_ERROR "last line lacks an 'ec' layout K+M: ${json} ${jerr}")
endif()
foreach(key goal_seq_write goal_seq_read goal_overwrite goal_creates goal_rss goal_flood_rss)
  string(JSON type ERROR_VARIABLE jerr TYPE "${json}" ${key})
  if(jerr OR NOT type STREQUAL "BOOLEAN")
    message(FATAL_ERROR "last line lacks the goal boolean '${key}': ${json} ${jerr}")
  endif()
endforeach()
string(JSON size GET "${json}" size_bytes)
if(NOT size EQUAL 8388608)
  message(FATAL_ERROR "expected a file of 8 MiB, got ${size}")
endif()
file(GLOB leftovers ${dir}/*)
if(leftovers)
  message(FATAL_ERROR "bench fs left its work folder behind: ${leftovers}")
endif()
file(READ /proc/self/mountinfo mounts)
if(mounts MATCHES "${dir}")
  message(FATAL_ERROR "bench fs left a mount behind under ${dir}")
endif()
