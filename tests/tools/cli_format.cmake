# The sopfs command line without a mount: every command's --help; bad arguments get one
# line on stderr and exit 2; `sopfs format` makes a volume and refuses a second format and
# folders holding files; a bad sopfs.conf gets one line naming the key and exit 1 from
# `sopfs mount` (before anything is mounted); mount.sopfs -f shows the command it would
# run. Run by ctest with -DSOPFS=... -DMOUNT_SOPFS=... -DWORKDIR=...

# Runs the command, checks its exit code; sets last_stdout / last_stderr.
function(expect_exit code)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 60)
  if(NOT rc EQUAL ${code})
    message(FATAL_ERROR "'${ARGN}' exited ${rc}, expected ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(last_stdout "${out}" PARENT_SCOPE)
  set(last_stderr "${err}" PARENT_SCOPE)
endfunction()

# Exit `code` with exactly one line on stderr, matching `pattern`.
function(expect_one_line code pattern)
  expect_exit(${code} ${ARGN})
  string(REGEX MATCHALL "\n" newlines "${last_stderr}")
  list(LENGTH newlines lines)
  if(NOT lines EQUAL 1 OR NOT last_stderr MATCHES "\n$")
    message(FATAL_ERROR "'${ARGN}': expected one line on stderr, got:\n${last_stderr}")
  endif()
  if(NOT last_stderr MATCHES "${pattern}")
    message(FATAL_ERROR "'${ARGN}': stderr does not match '${pattern}': ${last_stderr}")
  endif()
endfunction()

set(W ${WORKDIR}/cli-format)
file(REMOVE_RECURSE ${W})
file(MAKE_DIRECTORY ${W}/mnt)

# --help everywhere, exit 0, on stdout.
expect_exit(0 ${SOPFS} --help)
foreach(command format mount)
  if(NOT last_stdout MATCHES "${command}")
    message(FATAL_ERROR "sopfs --help does not list '${command}': ${last_stdout}")
  endif()
endforeach()
expect_exit(0 ${SOPFS} format --help)
foreach(option --data --registry --ec --metadata-ec --chunk-size)
  if(NOT last_stdout MATCHES "${option}")
    message(FATAL_ERROR "sopfs format --help does not list ${option}: ${last_stdout}")
  endif()
endforeach()
expect_exit(0 ${SOPFS} mount --help)
foreach(option --foreground commit_interval attr_timeout allow_other reserve)
  if(NOT last_stdout MATCHES "${option}")
    message(FATAL_ERROR "sopfs mount --help does not list ${option}: ${last_stdout}")
  endif()
endforeach()
expect_exit(0 ${MOUNT_SOPFS} --help)

# Bad command lines: one line, exit 2.
expect_one_line(2 "missing VOLUME" ${SOPFS} format)
expect_one_line(2 "unexpected argument 'b'" ${SOPFS} format ${W}/a b)
expect_one_line(2 "--ec '4-2'" ${SOPFS} format ${W}/v --ec 4-2)
expect_one_line(2 "metadata needs at least ec's 2 parity shards" ${SOPFS} format ${W}/v
                --metadata-ec 4+1)
expect_one_line(2 "--metadata-ec 'x'" ${SOPFS} format ${W}/v --metadata-ec x)
expect_one_line(2 "40\\+2" ${SOPFS} format ${W}/v --ec 40+2)
expect_one_line(2 "--chunk-size 3M: must be a power of two" ${SOPFS} format ${W}/v --chunk-size 3M)
expect_one_line(2 "--chunk-size 32K" ${SOPFS} format ${W}/v --chunk-size 32K)
expect_one_line(2 "--chunk-size 'banana'" ${SOPFS} format ${W}/v --chunk-size banana)
expect_one_line(2 "2 data folders given, but --ec 4\\+2" ${SOPFS} format ${W}/v
                --data ${W}/d0 --data ${W}/d1)
expect_one_line(2 "--registry: exactly two" ${SOPFS} format ${W}/v --registry ${W}/r)
expect_one_line(2 "--store 'media': expected NAME=K\\+M" ${SOPFS} format ${W}/v --store media)
expect_one_line(2 "--store m: .*data folders 0-9: the volume has folders 0-5" ${SOPFS} format
                ${W}/v --store m=2+1@0-9)
expect_one_line(2 "--store m: .*8\\+9 needs 17 data folders, the volume has 6" ${SOPFS} format
                ${W}/v --data ${W}/d0 --data ${W}/d1 --data ${W}/d2 --data ${W}/d3 --data ${W}/d4
                --data ${W}/d5 --store m=8+9)
expect_one_line(2 "--store m is given twice" ${SOPFS} format ${W}/v --store m=1+0 --store m=2+0)
expect_one_line(2 "named twice" ${SOPFS} format ${W}/v --ec 1+1 --data ${W}/x --data ${W}/x)
expect_one_line(2 "unrecognised option '--bogus'" ${SOPFS} format ${W}/v --bogus)
expect_one_line(2 "missing MOUNTPOINT" ${SOPFS} mount)
expect_one_line(2 "unexpected argument 'c'" ${SOPFS} mount a b c)
expect_one_line(2 "--redis: clustered mode is not implemented yet" ${SOPFS} mount ${W}/v ${W}/mnt
                --redis redis://localhost)
expect_one_line(2 "unknown mount option 'bogus'" ${SOPFS} mount ${W}/v ${W}/mnt -o noatime,bogus)
expect_one_line(2 "'ro=1': takes no value" ${SOPFS} mount ${W}/v ${W}/mnt -o ro=1)
expect_one_line(2 "commit_interval=0" ${SOPFS} mount ${W}/v ${W}/mnt -o commit_interval=0)
expect_one_line(2 "attr_timeout=soon" ${SOPFS} mount ${W}/v ${W}/mnt -o attr_timeout=soon)
expect_one_line(2 "small_file_buffer=512K: expected a size from 1M to 1G" ${SOPFS} mount ${W}/v
                ${W}/mnt -o small_file_buffer=512K)
expect_one_line(2 "reserve=1M: expected a size from 4M to 64G" ${SOPFS} mount ${W}/v ${W}/mnt
                -o reserve=1M)
expect_one_line(2 "cache=lots: expected a size from 16M to 64G" ${SOPFS} mount ${W}/v ${W}/mnt
                -o cache=lots)
expect_one_line(2 "mount option 'cache' needs =VALUE" ${SOPFS} mount ${W}/v ${W}/mnt -o cache)
expect_one_line(2 "needs VOLUME and MOUNTPOINT" ${MOUNT_SOPFS} ${W}/v)
expect_one_line(2 "unknown flag '-q'" ${MOUNT_SOPFS} ${W}/v ${W}/mnt -q)
# Nothing was created by any of the above.
if(EXISTS ${W}/v OR EXISTS ${W}/a OR EXISTS ${W}/x)
  message(FATAL_ERROR "a refused command created files")
endif()

# No volume: one line, exit 1, whatever the mountpoint.
expect_one_line(1 "no sopfs volume at .*run 'sopfs format" ${SOPFS} mount ${W}/v ${W}/mnt)

# format: defaults, then a refused second format.
expect_exit(0 ${SOPFS} format ${W}/v)
if(NOT last_stdout STREQUAL "formatted ${W}/v: 6 data folders, 4+2, 1 MiB chunks\n")
  message(FATAL_ERROR "unexpected format output: ${last_stdout}")
endif()
# A volume, no mountpoint (checked after the volume's lock): one line, exit 1.
expect_one_line(1 "mountpoint .* does not exist" ${SOPFS} mount ${W}/v ${W}/nothing)
foreach(entry sopfs.conf data-0 data-5 registry-a registry-b)
  if(NOT EXISTS ${W}/v/${entry})
    message(FATAL_ERROR "format did not create ${W}/v/${entry}")
  endif()
endforeach()
file(READ ${W}/v/sopfs.conf conf)
expect_one_line(1 "already a sopfs volume" ${SOPFS} format ${W}/v)
file(READ ${W}/v/sopfs.conf conf_after)
if(NOT conf STREQUAL conf_after)
  message(FATAL_ERROR "a refused format changed sopfs.conf")
endif()
# Folders outside the volume, a layout of their own; relative paths resolve against the
# working directory.
expect_exit(0 ${SOPFS} format v2 --ec 2+1 --data d0 --data d1 --data d2 --registry ra
            --registry rb --chunk-size 256K WORKING_DIRECTORY ${W})
if(NOT last_stdout MATCHES "3 data folders, 2\\+1, 256 KiB chunks")
  message(FATAL_ERROR "unexpected format output: ${last_stdout}")
endif()
file(READ ${W}/v2/sopfs.conf conf)
if(NOT conf MATCHES "data = ${W}/d0\n" OR NOT conf MATCHES "chunk-size = 256K")
  message(FATAL_ERROR "sopfs.conf lacks the folders given: ${conf}")
endif()
# A data folder that holds files is refused, and no sopfs.conf appears.
file(WRITE ${W}/busy/file "x")
expect_one_line(1 "busy is not empty" ${SOPFS} format ${W}/v3 --ec 1+0 --data ${W}/busy)
if(EXISTS ${W}/v3/sopfs.conf)
  message(FATAL_ERROR "a refused format wrote sopfs.conf")
endif()

# A bad sopfs.conf: `sopfs mount` names the key and value in one line, exit 1.
set(good "data = d0\ndata = d1\ndata = d2\nregistry = ra\nregistry = rb\nec = 2+1\n")
function(expect_bad_conf text pattern)
  file(MAKE_DIRECTORY ${W}/bad)
  file(WRITE ${W}/bad/sopfs.conf "${text}")
  expect_one_line(1 "${pattern}" ${SOPFS} mount ${W}/bad ${W}/mnt)
endfunction()
expect_bad_conf("${good}colour = blue\n" "sopfs.conf: unknown key 'colour'")
expect_bad_conf("${good}[mount]\ncolour = blue\n" "unknown key 'colour' in section \\[mount\\]")
expect_bad_conf("${good}[other]\nx = 1\n" "unknown key 'x' in section \\[other\\]")
expect_bad_conf("data = d0\nregistry = ra\nregistry = rb\nec = 4-2\n" "ec = '4-2'")
expect_bad_conf("${good}ec = 3+1\n" "key 'ec' is given more than once")
expect_bad_conf("data = d0\nregistry = ra\nregistry = rb\n"
                "ec = 4\\+2 needs at least 6 data folders.*names 1")
expect_bad_conf("${good}chunk-size = 3M\n" "chunk-size = '3M': must be a power of two")
expect_bad_conf("${good}chunk-size = 128M\n" "chunk-size = '128M'")
expect_bad_conf("${good}chunk-size = lots\n" "chunk-size = 'lots'")
expect_bad_conf("registry = ra\nregistry = rb\n" "no 'data' key")
expect_bad_conf("data = d0\nregistry = ra\n" "'registry' must name exactly two folders")
expect_bad_conf("data = d0\ndata = d0\nregistry = ra\nregistry = rb\nec = 1+1\n"
                "d0 is named twice")
expect_bad_conf("this is not an ini file\n" "invalid line 'this is not an ini file'")
expect_bad_conf("${good}[mount]\noptions = allow_other,frobnicate\n"
                "\\[mount\\] options: unknown mount option 'frobnicate'")
expect_bad_conf("${good}[mount]\ncommit-interval = 1h\n" "commit-interval")
if(EXISTS ${W}/bad/d0 OR EXISTS ${W}/bad/sopfs.lock)
  message(FATAL_ERROR "a refused mount created files in the volume")
endif()

# mount.sopfs -f (fake): the command it would run, without fstab-only options.
expect_exit(0 ${MOUNT_SOPFS} ${W}/v ${W}/mnt -n -s -f -o rw,noauto,nofail,_netdev,user,x-systemd.automount,noatime)
if(NOT last_stderr MATCHES "would run [^ ]*sopfs mount ${W}/v ${W}/mnt -o rw,noatime\n")
  message(FATAL_ERROR "mount.sopfs -f: ${last_stderr}")
endif()
expect_exit(0 ${MOUNT_SOPFS} ${W}/v ${W}/mnt -fo defaults)
if(NOT last_stderr MATCHES "would run [^ ]*sopfs mount ${W}/v ${W}/mnt\n")
  message(FATAL_ERROR "mount.sopfs -f: ${last_stderr}")
endif()

file(REMOVE_RECURSE ${W})
