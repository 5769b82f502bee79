// Package vidjob holds the domain of the vidjob transcoding service: jobs, their
// states and results, presets, billing arithmetic and the application error codes.
//
// It imports nothing from the outside world. Packages named after an outside
// dependency (ffmpeg, exiftool, s3, diskstore, sqlstore, queue, http) implement or
// use these types, and cmd/vidjob wires them together.
package vidjob
