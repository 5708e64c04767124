// istio-check runs mini-pilot's validation-parity cases through Istio's own
// validation, the way its admission webhook does (pkg/webhooks/validation/server):
// decode the object, find its schema, convert the spec from JSON (unknown
// fields inside spec tolerated), run the kind's ValidateXxx, then refuse
// unknown top-level fields. It prints one JSON line per case:
// {"file":...,"case":...,"verdict":"error|warning|accept","errors":...,"warnings":...}.
//
// Usage: istio-check FILE.yaml...
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"k8s.io/apimachinery/pkg/util/yaml"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/log"
)

// The webhook accepts only these top-level keys (server.go validFields).
var validFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "spec": true, "status": true}

type testCase struct {
	Case   string         `json:"case"`
	Object map[string]any `json:"object"`
}

type result struct {
	File     string `json:"file"`
	Case     string `json:"case"`
	Verdict  string `json:"verdict"`
	Errors   string `json:"errors,omitempty"`
	Warnings string `json:"warnings,omitempty"`
}

func check(raw []byte) (verdict, errs, warns string) {
	var obj crd.IstioKind
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "error", "cannot decode configuration: " + err.Error(), ""
	}
	gvk := obj.GroupVersionKind()
	s, ok := collections.Pilot.FindByGroupKind(resource.FromKubernetesGVK(&gvk))
	if !ok {
		return "error", "unrecognized type " + gvk.String(), ""
	}
	out, err := crd.ConvertObject(s, &obj, "cluster.local")
	if err != nil {
		return "error", "error decoding configuration: " + err.Error(), ""
	}
	w, err := s.ValidateConfig(*out)
	if err != nil {
		return "error", err.Error(), ""
	}
	top := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw, &top)
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !validFields[k] {
			return "error", fmt.Sprintf("unknown field %q", k), ""
		}
	}
	if w != nil {
		return "warning", "", w.Error()
	}
	return "accept", "", ""
}

func main() {
	// Istio logs deprecation notices on stdout; keep stdout for results.
	opts := log.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	opts.ErrorOutputPaths = []string{"stderr"}
	if err := log.Configure(opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, file := range os.Args[1:] {
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		dec := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := dec.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
				os.Exit(2)
			}
			js, err := yaml.ToJSON(doc)
			if err != nil || string(bytes.TrimSpace(js)) == "null" {
				continue
			}
			var c testCase
			if err := json.Unmarshal(js, &c); err != nil || c.Case == "" {
				fmt.Fprintf(os.Stderr, "%s: document without case/object: %v\n", file, err)
				os.Exit(2)
			}
			raw, _ := json.Marshal(c.Object)
			v, e, w := check(raw)
			_ = enc.Encode(result{File: file, Case: c.Case, Verdict: v, Errors: e, Warnings: w})
		}
	}
}
