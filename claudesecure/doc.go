// Package claudesecure masks AWS identifiers and secrets in a Go program's
// requests to the Anthropic API (or Amazon Bedrock) in-process, with no
// listener: a [Transport] is an [http.RoundTripper] that any HTTP client,
// the official Go SDK's included, sends through.
//
//	t, err := claudesecure.Open(ctx, nil)
//	if err != nil { … }
//	defer t.Close()
//	client := anthropic.NewClient(option.WithHTTPClient(&http.Client{Transport: t}))
//
// It runs the pipeline `claude-secure run` runs behind its loopback proxy
// (package proxy): every request body to the Messages API is masked before
// it leaves, and the answer, streamed events included (server-sent events,
// or Bedrock's AWS event stream), is restored on its way back: only the
// pseudonyms that masking its own request produced, the scoped restore
// the proxy does. Pseudonyms come from the same store as the command's, so
// `claude-secure unmask` reads what a program's logs hold.
//
// # Where to start
//
// [Open] finds the state directory, the configuration file and the store
// with its key the way the claude-secure command does (CLAUDE_SECURE_HOME,
// CLAUDE_SECURE_STORE, CLAUDE_SECURE_KEY, the OS keyring). [NewTransport]
// takes an engine the program built itself ([WithEngine]). For Bedrock,
// [WithBedrock] re-signs each masked request with the program's AWS
// credentials: the SDK signs a request before its transport sees it, and
// masking changes the body the signature covers. Those requests go only
// to the region's runtime endpoint over HTTPS, or to the one
// [WithBedrockEndpoint] names.
//
// # Fail closed
//
// A request is sent to the scheme and host of its own URL. What the
// request may carry follows from its method and path there, as in the
// proxy; the host does not decide it:
//   - a body goes out only to an endpoint whose body is masked (the
//     Messages API: /v1/messages, /v1/messages/count_tokens,
//     /v1/messages/batches; Bedrock's invoke calls; the configuration's
//     allow_paths, every string masked);
//   - a body to any other path, of any host, is not sent;
//   - a request without a body goes out unless its path, query or headers
//     hold a value masking would replace (with Bedrock, only its known
//     calls go out, since they carry the program's credentials);
//   - a body that cannot be read, a store that cannot be written, a
//     signature that cannot be made: nothing is sent.
//
// A request that is not sent gets, from RoundTrip, the answer the proxy
// gives: a response in the Anthropic error shape
// ({"type":"error","error":{"type":…,"message":"claude-secure: …"}}) with
// the header X-Claude-Secure-Error, which SDKs report like any API error.
// RoundTrip returns an error only for a request it cannot place at all
// (no http or https URL) and when the request's context ends first.
//
// The API root is the URL's host: a base URL with a path in front of
// /v1/messages (a gateway at https://example.com/anthropic) reaches no
// masked endpoint, and its bodies are refused.
//
// # Compatibility
//
// The exported API of this package follows semantic versioning from the
// next release of claude-secure on. The other packages of the module,
// proxy and mask included, are the tool's own and may change in any
// release: [WithEngine] and [WithProvider] take their types, and are
// covered only as far as those types stay.
package claudesecure
