# `sopfs bench txn` end to end on a few transactions: bad arguments get a one-line error
# and exit code 2; a real run mounts a volume, runs transactions from 1 and 8 sessions
# and the native baseline, ends with one JSON object holding every figure the issue
# names, and leaves neither its work folder nor a mount behind.
# Run by ctest with -DSOPFS=... -DWORKDIR=...; fails without FUSE.

include(${CMAKE_CURRENT_LIST_DIR}/bench_expect.cmake)

expect_exit(2 ${SOPFS} bench txn --rounds 3)
if(NOT last_stderr MATCHES "--rounds")
  message(FATAL_ERROR "no clear message for a bad --rounds: ${last_stderr}")
endif()
expect_exit(2 ${SOPFS} bench txn --no-such-option)
expect_exit(0 ${SOPFS} bench txn --help)
if(NOT last_stdout MATCHES "--json")
  message(FATAL_ERROR "bench txn --help does not list --json: ${last_stdout}")
endif()

set(dir ${WORKDIR}/cli-bench-txn)
file(REMOVE_RECURSE ${dir})
file(MAKE_DIRECTORY ${dir})
expect_exit(0 ${SOPFS} bench txn --json --rounds 16 --dir ${dir})
expect_json_keys("${last_stdout}" commit_p50_ms commit_p99_ms native_p50_ms native_p99_ms txn_per_s_1 txn_per_s_8
            native_per_s_1 native_per_s_8 ratio_1 ratio_8 daemon_peak_rss_mib)
expect_clean_dir("bench txn" ${dir})
