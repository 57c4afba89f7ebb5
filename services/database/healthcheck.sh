#!/bin/sh
# A real DynamoDB call (ListTables): dynalite checks that a SigV4 header is
# present, not the signature.
exec curl -fsS -o /dev/null -X POST http://127.0.0.1:8000/ \
	-H 'Content-Type: application/x-amz-json-1.0' \
	-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
	-H 'Authorization: AWS4-HMAC-SHA256 Credential=esb/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
	-d '{}'
