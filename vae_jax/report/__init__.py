"""Reports: metric logs, matplotlib figures (plotting, and the arrays a member's figures show),
and REPORT.md tables."""
