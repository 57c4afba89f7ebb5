package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Objects in an archive:
//
//	s3/index.json        the objects, as Object records
//	s3/objects/<n>       object n's bytes
//
// Keys are not entry names: a key may hold "..", a leading "/" or
// anything else an S3 key allows.
const (
	objectsIndex = "s3/index.json"
	objectsDir   = "s3/objects"
)

// Object is one object of an archive.
type Object struct {
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Entry       string            `json:"entry"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// ObjectAPI is the part of the S3 API backups use.
type ObjectAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SaveObjects writes every object of buckets into w. Objects are listed,
// then read one by one while the env serves: one deleted in between is
// an error, one written in between may or may not be in the backup.
func SaveObjects(ctx context.Context, w *Writer, api ObjectAPI, buckets []string) (int, error) {
	var index []Object
	for _, bucket := range buckets {
		var token *string
		for {
			out, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), ContinuationToken: token})
			if err != nil {
				return len(index), fmt.Errorf("list bucket %s: %w", bucket, err)
			}
			for _, o := range out.Contents {
				obj, err := saveObject(ctx, w, api, bucket, aws.ToString(o.Key), objectsDir+"/"+strconv.Itoa(len(index)))
				if err != nil {
					return len(index), err
				}
				index = append(index, obj)
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			token = out.NextContinuationToken
		}
	}
	data, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return len(index), fmt.Errorf("encode %s: %w", objectsIndex, err)
	}
	return len(index), w.AddBytes(objectsIndex, data)
}

func saveObject(ctx context.Context, w *Writer, api ObjectAPI, bucket, key, entry string) (Object, error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return Object{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if out.ContentLength == nil {
		return Object{}, fmt.Errorf("get s3://%s/%s: no Content-Length", bucket, key)
	}
	if err := w.Add(entry, *out.ContentLength, out.Body); err != nil {
		return Object{}, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return Object{Bucket: bucket, Key: key, Entry: entry, ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata}, nil
}

// LoadObjects puts the objects staged in dir into their buckets (which
// must exist: the provisioner creates them first).
func LoadObjects(ctx context.Context, dir string, api ObjectAPI) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(objectsIndex)))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var index []Object
	if err := json.Unmarshal(data, &index); err != nil {
		return 0, fmt.Errorf("%s: %w", objectsIndex, err)
	}
	for i, o := range index {
		if err := checkName(o.Entry); err != nil {
			return i, err
		}
		if err := putObject(ctx, dir, api, o); err != nil {
			return i, err
		}
	}
	return len(index), nil
}

func putObject(ctx context.Context, dir string, api ObjectAPI, o Object) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(o.Entry)))
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key), Body: f, ContentLength: aws.Int64(st.Size()), Metadata: o.Metadata}
	if o.ContentType != "" {
		in.ContentType = aws.String(o.ContentType)
	}
	if _, err := api.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	return nil
}
