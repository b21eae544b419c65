package mlflow

import (
	"context"
	"encoding/json"
	"net/http"
)

// searchByTag pages through a POST search endpoint (runs/search,
// logged-models/search) for one experiment's items whose tag key equals
// value, and returns the items under listKey from every page. An empty
// result has no listKey at all. exact: the filter matched a superset (see
// filterCond), and the caller keeps the items whose tag equals value.
func searchByTag[W any](ctx context.Context, c *Client, endpoint, listKey, experimentID, key, value string, pageSize int) (_ []W, exact bool, _ error) {
	filter, exact, err := tagFilter(key, value)
	if err != nil {
		return nil, false, err
	}
	var all []W
	token := ""
	for {
		in := map[string]any{"experiment_ids": []string{experimentID}, "filter": filter, "max_results": pageSize}
		setIf(in, "page_token", token)
		var out map[string]json.RawMessage
		if err := c.call(ctx, read, http.MethodPost, endpoint, nil, in, &out); err != nil {
			return nil, false, err
		}
		if raw, ok := out[listKey]; ok {
			var items []W
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, false, badResponse(http.MethodPost, endpoint, "a list of "+listKey, raw, err)
			}
			all = append(all, items...)
		}
		token = ""
		if raw, ok := out["next_page_token"]; ok && json.Unmarshal(raw, &token) != nil {
			return nil, false, badResponse(http.MethodPost, endpoint, "a string next_page_token", raw, nil)
		}
		if token == "" {
			return all, exact, nil
		}
	}
}
