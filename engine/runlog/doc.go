// Package runlog turns run events into what people and programs read: the
// run log file in the original bash system's line format
// (`YYYY-mm-dd HH:MM:SS [LEVEL] source: message`), the console (one line
// per event, prefixed with the CTID, coloured only on a terminal) and JSON
// lines for --output json. A Redactor scrubs registered secrets from every
// event before any of these sinks sees it.
package runlog
