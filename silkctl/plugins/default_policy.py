"""Built-in policy tagger: no opinion (None), so containers get tag 0 unless a
policy plugin answers. Shipped as an ordinary plugin to prove the hooks."""

from silkctl.plugins import hookimpl


@hookimpl(trylast=True)
def silkctl_container_tag(container):
    return None
