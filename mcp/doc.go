// Package mcp judges Model Context Protocol traffic (Streamable HTTP
// transport) for the gateway: it reads a POSTed JSON-RPC 2.0 body strictly
// (ParseBody), decides each message against a route's per-tool, per-resource
// and per-prompt rules (Table.Decide), and filters the tools/list,
// resources/list and prompts/list answers to what a token may use
// (FilterListing, FilterSSE). It imports no gateway package: the gateway
// passes plain bytes and scope strings in, and gets decisions out.
//
// Strictness matches the gateway's model-body reader: one JSON value of
// valid UTF-8, no trailing data, no duplicate member names at any depth
// (compared after unescaping, so "\u006dethod" duplicates "method"), no
// member whose name differs only in case from one the decision reads, and
// nesting at most MaxDepth deep. A header (Mcp-Method, Mcp-Name) is only
// ever compared with the body (CheckHeaders); no decision is made on it.
package mcp
