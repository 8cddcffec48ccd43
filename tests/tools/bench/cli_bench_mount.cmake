# `sopfs bench mount` end to end on tiny volumes: bad arguments get a one-line error and
# exit code 2; a real run makes a volume of files and one with a grown registry, opens
# and mounts each (clean and after kill -9), ends with one JSON object holding every
# figure, and leaves neither its work folder nor a mount behind.
# Run by ctest with -DSOPFS=... -DWORKDIR=...; fails without FUSE.

include(${CMAKE_CURRENT_LIST_DIR}/bench_expect.cmake)

expect_exit(2 ${SOPFS} bench mount --files 0)
if(NOT last_stderr MATCHES "--files")
  message(FATAL_ERROR "no clear message for a bad --files: ${last_stderr}")
endif()
expect_exit(2 ${SOPFS} bench mount --no-such-option)
expect_exit(0 ${SOPFS} bench mount --help)

set(dir ${WORKDIR}/cli-bench-mount)
file(REMOVE_RECURSE ${dir})
file(MAKE_DIRECTORY ${dir})
expect_exit(0 ${SOPFS} bench mount --json --files 3000 --registry-ids 50000 --crash-files 5
            --dir ${dir})
expect_json_keys("${last_stdout}" clean_mount_ms_1m_files clean_mount_ms_10tb_registry
            crash_mount_ms clean_engine_open_ms_1m_files clean_engine_open_ms_10tb_registry
            crash_engine_open_ms log_records_replayed log_records_replayed_by_mount registry_ids
            files peak_rss_mib goal_clean_mount_ms)
string(STRIP "${last_stdout}" out)
string(REGEX REPLACE ".*\n" "" json "${out}")
string(JSON ids GET "${json}" registry_ids)
string(JSON files GET "${json}" files)
if(NOT ids EQUAL 50000 OR NOT files EQUAL 3000)
  message(FATAL_ERROR "the volumes are not the sizes asked for: ${json}")
endif()
expect_clean_dir("bench mount" ${dir})
