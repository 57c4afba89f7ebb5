import esb_mirror_dep


def handler(event, context):
    # esb_mirror_dep exists only as a wheel the test builds into the wheel
    # directory: no index has it.
    return {"dep": esb_mirror_dep.VALUE}
