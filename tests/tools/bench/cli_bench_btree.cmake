# `sopfs bench btree` end to end: bad arguments get a one-line error and exit code 2,
# and a small run (engine and SQLite) ends with one JSON object holding the figures.
# Run by ctest with -DSOPFS=... -DWORKDIR=...

include(${CMAKE_CURRENT_LIST_DIR}/bench_expect.cmake)

set(dir ${WORKDIR}/cli-bench-btree)
file(REMOVE_RECURSE ${dir})
file(MAKE_DIRECTORY ${dir})

expect_exit(2 ${SOPFS} bench btree --items 0 --dir ${dir})
if(NOT last_stderr MATCHES "--items")
  message(FATAL_ERROR "no clear message for --items 0: ${last_stderr}")
endif()
expect_exit(2 ${SOPFS} bench btree --order sideways --dir ${dir})
if(NOT last_stderr MATCHES "--order")
  message(FATAL_ERROR "no clear message for --order sideways: ${last_stderr}")
endif()
expect_exit(2 ${SOPFS} bench btree --batch 0 --dir ${dir})
expect_exit(2 ${SOPFS} bench btree --ec 4-2 --dir ${dir})
expect_exit(2 ${SOPFS} bench btree --dir ${dir}/does/not/exist)
expect_exit(0 ${SOPFS} bench btree --help)
if(NOT last_stdout MATCHES "--json" OR NOT last_stdout MATCHES "random")
  message(FATAL_ERROR "bench btree --help lacks --json or the order default: ${last_stdout}")
endif()

expect_exit(0 ${SOPFS} bench btree --json --items 3000 --batch 100 --dir ${dir})
string(STRIP "${last_stdout}" out)
string(REGEX REPLACE ".*\n" "" json "${out}")
if(NOT json MATCHES "\"insert_ops\"" OR NOT json MATCHES "\"sqlite_read_ops\"")
  message(FATAL_ERROR "last line lacks insert_ops or sqlite_read_ops: ${json}")
endif()
foreach(key insert_ops read_ops delete_ops sqlite_insert_ops sqlite_read_ops sqlite_delete_ops
            insert_ratio_vs_sqlite read_ratio_vs_sqlite delete_ratio_vs_sqlite commits
            log_records log_flushes peak_rss_mib insert_vs_sop read_vs_sop delete_vs_sop)
  string(JSON value ERROR_VARIABLE jerr GET "${json}" ${key})
  if(jerr OR NOT value GREATER 0)
    message(FATAL_ERROR "last line lacks a positive '${key}': ${json} ${jerr}")
  endif()
endforeach()
string(JSON items GET "${json}" items)
string(JSON commits GET "${json}" commits)
if(NOT items EQUAL 3000)
  message(FATAL_ERROR "expected 3000 items, got ${items}")
endif()
# One commit creates the tree, then 30 batches of inserts and 30 of deletes.
if(NOT commits EQUAL 61)
  message(FATAL_ERROR "expected 61 commits, got ${commits}")
endif()
file(GLOB leftovers ${dir}/*)
if(leftovers)
  message(FATAL_ERROR "bench left its work folder behind: ${leftovers}")
endif()
file(REMOVE_RECURSE ${dir})
