#!/usr/bin/env python3
"""Writes the Claude Code request bodies used by the mask tests and benchmarks.

mask/testdata/request.json      a small conversation: tool use, tool results full of
                                identifiers, a signed thinking block, a system-role entry.
mask/testdata/request-1mb.json  the same kind of conversation grown to about 1 MB, with
                                source files read through the Read tool, as a long Claude
                                Code session sends it.

Every identifier in them is made up (see mask/testdata/fixtures). Run from the repository root:
    python3 scripts/gen-request-fixtures.py "$(go env GOROOT)"
"""
import json
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
fx = os.path.join(root, "mask", "testdata", "fixtures")
goroot = sys.argv[1] if len(sys.argv) > 1 else None


def read(name):
    with open(os.path.join(fx, name)) as f:
        return f.read()


SIGNATURE = "EqQBCkgIBxABGAIiQL7f3x9TQ2w1c2l0ZS1mYWtlLXNpZ25hdHVyZS1mb3ItdGVzdHMtb25seS1ub3QtcmVhbA=="

system = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {"type": "text", "text": "Working directory: /home/alice/src/orders\nPlatform: linux\n"
     "The user works in AWS account 160987654325 (profile prod-admin).",
     "cache_control": {"type": "ephemeral"}},
]
tools = [
    {"name": "Bash", "description": "Executes a bash command in a persistent shell session.",
     "input_schema": {"type": "object", "properties": {"command": {"type": "string", "description": "The command to execute"},
                                                       "timeout": {"type": "number"}}, "required": ["command"]}},
    {"name": "Write", "description": "Writes a file to the local filesystem.",
     "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
                      "required": ["file_path", "content"]}},
    {"name": "mcp__aws__describe_bucket", "description": "Describe an S3 bucket through the MCP server.",
     "input_schema": {"type": "object", "properties": {"bucket": {"type": "string"}}}},
]


def turn(i, tool_output, source=None):
    msgs = [
        {"role": "user", "content": [{"type": "text", "text": read("prose.md")}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "The user wants me to look at i-0c1d2e3f4a5b6c7d8 in 150987654324; "
                                             "I will describe it first.", "signature": SIGNATURE},
            {"type": "text", "text": "Let me look at the instance and its security group."},
            {"type": "tool_use", "id": "toolu_01A%05dbcdEFghijKLmnop" % i, "name": "Bash",
             "input": {"command": "aws ec2 describe-instances --instance-ids i-0f3a9c2b7d1e4a605 --region us-east-1",
                       "description": "Describe the instance"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A%05dbcdEFghijKLmnop" % i, "content": tool_output},
        ]},
        {"role": "assistant", "content": [
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
            {"type": "tool_use", "id": "toolu_01B%05dbcdEFghijKLmnop" % i, "name": "mcp__aws__describe_bucket",
             "input": {"bucket": "acme-incident-notes", "name": "timeline"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01B%05dbcdEFghijKLmnop" % i,
             "content": [{"type": "text", "text": read("iam-policy.json")}], "is_error": False},
        ]},
        {"role": "system", "content": "Reminder: the bastion is ip-10-8-1-10.ec2.internal (10.8.1.10)."},
    ]
    if source:
        msgs.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01C%05dbcdEFghijKLmnop" % i, "name": "Read",
             "input": {"file_path": "/home/alice/src/orders/" + os.path.basename(source[0])}}]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01C%05dbcdEFghijKLmnop" % i, "content": source[1]}]})
    return msgs


def body(messages):
    return {"model": "claude-sonnet-4-5-20250929", "max_tokens": 32000, "stream": True,
            "system": system, "tools": tools, "messages": messages,
            "thinking": {"type": "enabled", "budget_tokens": 10000},
            "metadata": {"user_id": "user_7f3a9c2b_account_3c4d_session_5e6f"}}


small = turn(0, read("describe-instances.json"))
small.append({"role": "user", "content": "Thanks, write the summary to notes.md and check s3://acme-incident-notes."})
with open(os.path.join(root, "mask", "testdata", "request.json"), "w") as f:
    json.dump(body(small), f, indent=2)
    f.write("\n")

outputs = ["describe-instances.json", "terraform.tfstate", "cloudtrail.json", "flowlogs.txt",
           "kubectl-nodes.txt", "credentials.ini", "exports.sh", "main.tf"]
sources = []
if goroot:
    for rel in ["net/http/server.go", "net/http/transport.go", "net/url/url.go", "encoding/json/decode.go",
                "net/http/request.go", "net/http/client.go"]:
        with open(os.path.join(goroot, "src", rel)) as f:
            sources.append((rel, f.read()))
messages = []
i = 0
while len(json.dumps(body(messages))) < 1_000_000:
    src = sources[i % len(sources)] if sources and i % 2 == 1 else None
    if src:
        src = (src[0], src[1][:120_000])
    messages += turn(i, read(outputs[i % len(outputs)]), src)
    i += 1
with open(os.path.join(root, "mask", "testdata", "request-1mb.json"), "w") as f:
    json.dump(body(messages), f)
