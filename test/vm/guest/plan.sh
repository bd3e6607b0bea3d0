#!/bin/sh
# Runs in the guest, chrooted into the host's root, with cwd = the run folder (the host path of RUNDIR).
# Each line of jobs.txt is `<name> <timeout-seconds> <shell command...>`; the command's stdout goes to
# out/<name>.jsonl, its stderr to out/<name>.log, and one record per job to out/jobs.jsonl:
#   {"job":"<name>","rc":<exit code>,"start":<uptime s>,"end":<uptime s>}
# VIRQ_EDU / VIRQ_E1000E hold the devices' PCI addresses (empty if absent).
up() { cut -d' ' -f1 /proc/uptime; }
all=0
while read -r name limit cmd; do
  case "$name" in '' | '#'*) continue ;; esac
  t0=$(up)
  echo "VIRQVM: job $name at ${t0}s"
  timeout -k 2 "$limit" sh -c "$cmd" >"out/$name.jsonl" 2>"out/$name.log" </dev/null
  rc=$?
  printf '{"job":"%s","rc":%d,"start":%s,"end":%s}\n' "$name" "$rc" "$t0" "$(up)" >>out/jobs.jsonl
  [ "$rc" = 0 ] || all=1
done <jobs.txt
exit $all
