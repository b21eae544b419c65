package mlflow

import (
	"testing"
	"time"
)

// uvicornKeepAlive is uvicorn's default --timeout-keep-alive, the server
// `mlflow server` runs unless told otherwise.
const uvicornKeepAlive = 5 * time.Second

// A connection idle longer than the server keeps it may be closed under a
// request; a create sent on it then fails after it was written and is not
// resent. The transport must drop it first.
func TestTransportDropsIdleConnectionsBeforeTheServer(t *testing.T) {
	tr, err := NewTransport(Config{TrackingURI: "http://127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.IdleConnTimeout <= 0 || tr.IdleConnTimeout >= uvicornKeepAlive {
		t.Fatalf("IdleConnTimeout %v: must be positive and under the server's keep-alive %v", tr.IdleConnTimeout, uvicornKeepAlive)
	}
}
