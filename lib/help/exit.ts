// The exit-status paragraph every --help and man page ends with: written once so that all of
// them say the same. `fail`: the command has --fail (fping's convention, opt-in).
export function exitStatus(fail = false): string {
  return `Exit status:
  0    done (also when stdout was closed early, as by | head)
  1    a runtime failure${fail ? '; with --fail also a negative result' : ''}
  2    a usage error, or a bad input line (reported as stdin:LINE, skipped)
  130  interrupted (Ctrl-C; 143 for SIGTERM): the output so far is complete`;
}
