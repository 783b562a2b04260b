# wait-exit.sh, sourced by scripts that run a command in the background
# so that their signal traps run while it does.
#
# wait_exit PID: wait until the background process PID has exited (a trapped
# signal interrupts wait: wait again) and return its exit status.
wait_exit() {
  local status
  while :; do
    status=0
    wait "$1" || status=$?
    kill -0 "$1" 2>/dev/null || return "$status"
  done
}
