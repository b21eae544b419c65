package tests

import (
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type countRequest = workflowservice.CountWorkflowExecutionsRequest

// protoJSON renders an event the way `temporal workflow show --output json`
// does, which is what the replayer reads.
func protoJSON(m proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{}.Marshal(m)
}
