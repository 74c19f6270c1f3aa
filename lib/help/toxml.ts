// toxml --help, and the source of man/toxml.1 (lib/help/man.ts). One line per flag, so that
// flags added on other branches merge as lines.
import { exitStatus } from './exit.js';

export const help = `Usage: toxml [options] < records > scan.xml
Turn records on stdin into one nmap-style XML document on stdout (what
nmap -oX writes, valid against nmap.dtd) for ndiff, xsltproc with nmap.xsl
and the tools that import nmap XML. Records: pingprobe, tcpprobe, svcprobe.

Options:
  -p PORTS          the ports scanned, for <scaninfo> (default: no scaninfo)
  --stylesheet URL  the xml-stylesheet href (default: nmap.xsl where installed)
  --no-stylesheet   no xml-stylesheet instruction
  --window N        hosts held open while their records arrive (default 1024)
  -v                count and elapsed time on stderr
  -h, --help        this help;  --version  the version

Examples:
  tcpprobe -p 1-1024 127.0.0.1 | toxml -p 1-1024 > scan.xml
  ndiff old.xml scan.xml
  xsltproc scan.xml > scan.html

The document is complete and valid however the input ends (Ctrl-C, a
truncated last line); <finished exit="error"> then says why.

${exitStatus()}`;
