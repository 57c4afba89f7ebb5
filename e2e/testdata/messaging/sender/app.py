import json
import os

import boto3

# No endpoint in the code: AWS_ENDPOINT_URL_SQS/SNS point boto3 at the env.
sqs = boto3.client("sqs")
sns = boto3.client("sns")


def handler(event, context):
    if "body" in event:
        # Through the HTTP API: forward the request body to the work queue.
        sent = sqs.send_message(QueueUrl=os.environ["WORK_URL"], MessageBody=event["body"])
        return {"statusCode": 202, "body": json.dumps({"sent": sent["MessageId"]})}
    note = event["note"]
    sent = sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps({"note": note}))
    sqs.send_message(QueueUrl=os.environ["LEDGER_URL"], MessageBody=note, MessageGroupId="g1")
    published = sns.publish(TopicArn=os.environ["TOPIC_ARN"], Message=note, Subject="alert",
                            MessageAttributes={"kind": {"DataType": "String", "StringValue": "alert"}})
    return {
        "sent": sent["MessageId"],
        "published": published["MessageId"],
        "queue_arn": os.environ["QUEUE_ARN"],
        "endpoints": [os.environ.get("AWS_ENDPOINT_URL_SQS"), os.environ.get("AWS_ENDPOINT_URL_SNS")],
    }
