import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def handler(event, context):
    for record in event["Records"]:
        sns = record["Sns"]
        table.put_item(Item={
            "id": "%s#%s" % (os.environ["FAN"], sns["Message"]),
            "source": record["EventSource"],
            "topic": sns["TopicArn"],
            "subject": sns["Subject"] or "",
        })
