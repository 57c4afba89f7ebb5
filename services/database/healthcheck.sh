#!/bin/sh
# A real DynamoDB call (ListTables). dynalite checks that the SigV4 headers
# are present and well formed, not the signature itself.
exec curl -fsS -o /dev/null -X POST http://127.0.0.1:8000/ \
	-H 'Content-Type: application/x-amz-json-1.0' \
	-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
	-H 'X-Amz-Date: 20240101T000000Z' \
	-H 'Authorization: AWS4-HMAC-SHA256 Credential=esb/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0' \
	-d '{}'
