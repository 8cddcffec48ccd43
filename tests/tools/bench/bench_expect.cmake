# What the `sopfs bench` end-to-end scripts share (include()d by them).

# Runs ARGN and fails unless it exits with `code`; leaves its output in last_stdout and
# last_stderr.
function(expect_exit code)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 600)
  if(NOT rc EQUAL ${code})
    message(FATAL_ERROR "'${ARGN}' exited ${rc}, expected ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(last_stdout "${out}" PARENT_SCOPE)
  set(last_stderr "${err}" PARENT_SCOPE)
endfunction()

# The last line of `stdout` must be a JSON object with a positive number at every key.
function(expect_json_keys stdout)
  string(STRIP "${stdout}" out)
  string(REGEX REPLACE ".*\n" "" json "${out}")
  foreach(key ${ARGN})
    string(JSON value ERROR_VARIABLE jerr GET "${json}" ${key})
    if(jerr OR NOT value GREATER 0)
      message(FATAL_ERROR "last line lacks a positive '${key}': ${json} ${jerr}")
    endif()
  endforeach()
endfunction()

# A benchmark run in `dir` left neither files nor a mount there.
function(expect_clean_dir what dir)
  file(GLOB leftovers ${dir}/*)
  if(leftovers)
    message(FATAL_ERROR "${what} left its work folder behind: ${leftovers}")
  endif()
  file(READ /proc/self/mountinfo mounts)
  if(mounts MATCHES "${dir}")
    message(FATAL_ERROR "${what} left a mount behind under ${dir}")
  endif()
endfunction()
