// Package asynclog takes log output off the serving goroutines: a Writer
// queues each formatted line in a bounded queue that one goroutine drains
// to the real writer, batching the lines it finds waiting into one Write;
// when the queue is full the line is dropped and counted, never waited
// for. Handler wraps an slog.Handler (a TextHandler or JSONHandler that
// writes to the Writer) and reports dropped lines as a log record.
package asynclog
