# `sopfs bench fsck` end to end on a small volume: bad arguments get a one-line error
# and exit code 2; a real run fills a volume through a mount, reads its data folders
# raw, runs fsck and fsck --quick (each must find the volume clean), ends with one JSON
# object holding every figure, and leaves neither its work folder nor a mount behind.
# Run by ctest with -DSOPFS=... -DWORKDIR=...; fails without FUSE.

include(${CMAKE_CURRENT_LIST_DIR}/bench_expect.cmake)

expect_exit(2 ${SOPFS} bench fsck --size 0)
if(NOT last_stderr MATCHES "--size")
  message(FATAL_ERROR "no clear message for a bad --size: ${last_stderr}")
endif()
expect_exit(2 ${SOPFS} bench fsck --no-such-option)
expect_exit(0 ${SOPFS} bench fsck --help)

set(dir ${WORKDIR}/cli-bench-fsck)
file(REMOVE_RECURSE ${dir})
file(MAKE_DIRECTORY ${dir})
expect_exit(0 ${SOPFS} bench fsck --json --size 64 --files 200 --dir ${dir})
expect_json_keys("${last_stdout}" raw_read_mib_s fsck_mib_s fsck_ratio goal_fsck_ratio fsck_seconds
            fsck_quick_seconds raw_read_mib fsck_read_mib fsck_peak_rss_mib
            fsck_quick_peak_rss_mib small_files foreground_mib_s foreground_scrub_mib_s
            foreground_scrub_ratio)
expect_clean_dir("bench fsck" ${dir})
