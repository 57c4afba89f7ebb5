"""The sandbox probe: reports what this function can reach and do.

Event: {"targets": {"label": "host:port" or "udp:host:port", ...},
"fill_tmp": bool, "fork_bomb": bool, "s3_bucket": name}. Reachability results: open (TCP),
sent (UDP), refused-by-sandbox (EPERM: the container's own rules dropped the
packet, as a UDP send learns at once), timeout (a TCP connect whose SYN was
dropped: what Lambda answers for an address it does not route either),
no-such-host, connection-refused, or another errno name."""

import errno
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor


def connect(target, timeout=2.0):
    host, port = target.rsplit(":", 1)
    try:
        infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        return "no-such-host"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(infos[0][4])
        return "open"
    except PermissionError:
        return "refused-by-sandbox"
    except ConnectionRefusedError:
        return "connection-refused"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()


def send_udp(target):
    """Sends one datagram: the sandbox's drop answers a send with EPERM at
    once, where a TCP connect would only time out (as on Lambda)."""
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"probe", (host, int(port)))
        return "sent"
    except PermissionError:
        return "refused-by-sandbox"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()


def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.remove(path)
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                out[key] = value.strip()
    return out


def raw_socket():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
        return "opened"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))


def fill_tmp():
    """Writes 1 MB chunks to /tmp until it is full (or 1 GB)."""
    path, chunk, written = "/tmp/fill", b"\0" * (1 << 20), 0
    try:
        with open(path, "wb") as f:
            while written < 1024:
                f.write(chunk)
                f.flush()
                written += 1
        result = "no limit"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e))
    finally:
        if os.path.exists(path):
            os.remove(path)
    return {"mb": written, "stopped_by": result}


def fork_bomb():
    """Starts processes until the kernel refuses one, then kills them."""
    pids, result, began = [], "no limit", time.monotonic()
    try:
        while len(pids) < 5000:
            pids.append(os.posix_spawn("/bin/sleep", ["sleep", "60"], os.environ))
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for pid in pids:
        os.waitpid(pid, 0)
    return {"started": len(pids), "stopped_by": result, "seconds": round(time.monotonic() - began, 2)}


def data_services(bucket):
    """Uses the data services with the function's own key pair, as any SDK
    code would: an S3 put and get on the template's bucket, a DynamoDB and
    an SQS list."""
    import boto3

    out = {"access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "")}
    key = "probe/" + context_id()
    try:
        s3 = boto3.client("s3")
        s3.put_object(Bucket=bucket, Key=key, Body=b"written with the function's own key")
        out["s3_get"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except Exception as e:  # the error's text is the report
        out["s3_get"] = "error: " + str(e)
    for name, call in (("dynamodb", lambda: boto3.client("dynamodb").list_tables()),
                       ("sqs", lambda: boto3.client("sqs").list_queues())):
        try:
            call()
            out[name] = "ok"
        except Exception as e:
            out[name] = "error: " + str(e)
    return out


def context_id():
    return str(os.getpid()) + "-" + str(time.time_ns())


def reach(targets):
    """Tries every target at once: a dropped SYN costs its whole timeout,
    and one after another they took most of the function's time on a busy
    machine."""
    def one(t):
        return send_udp(t[4:]) if t.startswith("udp:") else connect(t)
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        results = dict(zip(targets, pool.map(one, targets.values())))
    return results


def handler(event, context):
    st = os.statvfs("/tmp")
    out = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "status": status(),
        "raw_socket": raw_socket(),
        "write_root": write("/probe"),
        "write_task": write("/var/task/probe"),
        "write_tmp": write("/tmp/probe"),
        "tmp_mb": st.f_blocks * st.f_frsize // (1 << 20),
        "reach": reach(event.get("targets", {})),
    }
    if event.get("s3_bucket"):
        out["data"] = data_services(event["s3_bucket"])
    if event.get("fill_tmp"):
        out["fill_tmp"] = fill_tmp()
    if event.get("fork_bomb"):
        out["fork_bomb"] = fork_bomb()
    return out
