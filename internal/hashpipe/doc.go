// Package hashpipe moves a stream through a small ring of reusable buffers
// so that hashing overlaps the transfer instead of adding to it.
//
// A sha256 computed in the goroutine that writes to (or reads from) a socket
// stops the socket while it hashes: on a busy machine the server then waits
// for the client between every buffer. Here one goroutine fills buffers from
// the source, another hashes them, and the consumer (the HTTP transport
// reading a request body, or a goroutine writing a file) uses the very same
// buffers, so the bytes hashed are the bytes moved, without a second read of
// the data and without a copy per consumer.
//
// Memory is bounded: each pipeline holds at most Depth buffers of ChunkSize
// bytes (fewer and smaller for small inputs), recycled through a sync.Pool
// shared by all pipelines, whatever the size of the stream.
package hashpipe
