# `sopfs bench txn` end to end on a few transactions: bad arguments get a one-line error
# and exit code 2; a real run mounts a volume, runs transactions from 1 and 8 sessions
# and the native baseline, ends with one JSON object holding every figure the issue
# names, and leaves neither its work folder nor a mount behind.
# Run by ctest with -DSOPFS=... -DWORKDIR=...; fails without FUSE.

function(expect_exit code)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 600)
  if(NOT rc EQUAL ${code})
    message(FATAL_ERROR "'${ARGN}' exited ${rc}, expected ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(last_stdout "${out}" PARENT_SCOPE)
  set(last_stderr "${err}" PARENT_SCOPE)
endfunction()

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
string(STRIP "${last_stdout}" out)
string(REGEX REPLACE ".*\n" "" json "${out}")
foreach(key commit_p50_ms commit_p99_ms native_p50_ms native_p99_ms txn_per_s_1 txn_per_s_8
            native_per_s_1 native_per_s_8 ratio_1 ratio_8 daemon_peak_rss_mib)
  string(JSON value ERROR_VARIABLE jerr GET "${json}" ${key})
  if(jerr OR NOT value GREATER 0)
    message(FATAL_ERROR "last line lacks a positive '${key}': ${json} ${jerr}")
  endif()
endforeach()
file(GLOB leftovers ${dir}/*)
if(leftovers)
  message(FATAL_ERROR "bench txn left its work folder behind: ${leftovers}")
endif()
file(READ /proc/self/mountinfo mounts)
if(mounts MATCHES "${dir}")
  message(FATAL_ERROR "bench txn left a mount behind under ${dir}")
endif()
