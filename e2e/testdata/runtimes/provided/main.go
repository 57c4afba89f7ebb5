// Command bootstrap is a custom Lambda runtime (provided.al2023): it speaks
// the Runtime API itself. The e2e test compiles it into the function's
// code directory as ./bootstrap before deploying.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime"
	for {
		resp, err := http.Get(api + "/invocation/next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "next:", err)
			os.Exit(1)
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var event map[string]any
		_ = json.Unmarshal(body, &event)
		if event["fail"] == true {
			post(api+"/invocation/"+id+"/error", map[string]any{"errorType": "CustomError", "errorMessage": "asked to fail"})
			continue
		}
		post(api+"/invocation/"+id+"/response", map[string]any{
			"runtime": "provided", "handler": os.Getenv("_HANDLER"), "requestId": id, "echo": event["echo"],
		})
	}
}

func post(url string, v any) {
	data, _ := json.Marshal(v)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		fmt.Fprintln(os.Stderr, "post:", err)
		return
	}
	resp.Body.Close()
}
