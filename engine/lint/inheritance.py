"""The template rules (FL7xx): a flow built on templates, and a template itself.
Resolving a flow with its templates (``flowctl.engine.extends``) reports them, each in
the document that causes it; they are documented here like every other rule."""

from __future__ import annotations

from flowctl.engine.lint.registry import declare

declare(
    "unknown-template",
    """
    ## What it does
    Reports an `extends` that names no template the flow can use: no template of
    that id (a file `templates/<id>.json` beside the flow, or in `--templates`; in
    the store, the tenant's own or the operator's shared ones), a stored template
    with no published version, a file that cannot be read, or a file that holds no
    template (no `template_id`).

    ## Why it matters
    A flow built on a template is only half written: without the template there is
    no flow to check or run.

    ## Example
    ```json
    {"extends": "clinic_dsk", "agents": [...]}
    ```
    `Unknown template `clinic_dsk`; did you mean `clinic_desk`?`

    ## Instead
    Name a template that exists (`flowctl store templates list` shows the store's),
    or push and publish it first.
    """,
)

declare(
    "template-chain",
    """
    ## What it does
    Reports templates that extend each other in a loop (`a` extends `b`, `b` extends
    `a`), a chain more than 5 templates deep, or a flow whose templates make it over
    10 MiB together.

    ## Why it matters
    A loop has no flow at its end; a chain that deep is a mistake, and a tenant's
    templates are untrusted input: resolving them stays bounded.

    ## Instead
    Let each template extend one that is more general, and keep chains short: a
    company's base, a product's, a branch's.
    """,
)

declare(
    "missing-abstract",
    """
    ## What it does
    Reports a flow that does not define a part its template leaves abstract: a
    state the template's edges lead to, a tool its states use, or the value of a
    variable it declares (a `default`, or `input` for one the session supplies).
    The finding is at the flow's `extends`, and says what the part is for.

    ## Why it matters
    The template was written on the promise that each flow brings these: without
    them its edges lead nowhere and its prompts read an empty value.

    ## Example
    The template:
    ```json
    {"template_id": "clinic_desk",
     "abstract": {"agents": {"Clinician": "Answers the clinic's medical questions"},
                  "variables": {"clinic_name": "The clinic's name, said in greetings"}},
     "variables": {"clinic_name": {"type": "str"}}, ...}
    ```
    A flow extending it without a `Clinician` state and a `default` for
    `clinic_name` gets two findings.

    ## Instead
    ```json
    {"extends": "clinic_desk",
     "variables": {"clinic_name": {"default": "Harbor Dental"}},
     "agents": [{"name": "Clinician", "instructions": "..."}]}
    ```
    """,
)

declare(
    "unknown-removal",
    """
    ## What it does
    Reports a `remove` entry naming a state, edge, tool, global edge or variable that
    the template does not hold (with a did-you-mean), and a `remove` in a flow that
    extends no template.

    ## Why it matters
    A removal that removes nothing is a typo: the part the author meant to take out
    is still there.

    ## Example
    ```json
    {"extends": "clinic_desk", "remove": {"agents": ["Billng"]}}
    ```

    ## Instead
    ```json
    {"extends": "clinic_desk", "remove": {"agents": ["Billing"]}}
    ```
    """,
)

declare(
    "invalid-flow-template",
    """
    ## What it does
    Reports what a template cannot say: a field that names one flow (`flow_id`,
    `customer_id`, `version`: every flow extending the template would get it), an
    abstract state or tool that the template defines all the same, an abstract
    variable it does not declare in `variables`, and a template file whose name is
    not its `template_id` (templates are found by file name).

    ## Why it matters
    An abstract part the template defines is not left to anyone; an abstract variable
    with no declaration has no type for the flows to give a value of.

    ## Example
    ```json
    {"template_id": "clinic_desk", "flow_id": "dental",
     "abstract": {"variables": {"clinic_name": "The clinic's name"}}}
    ```

    ## Instead
    ```json
    {"template_id": "clinic_desk",
     "abstract": {"variables": {"clinic_name": "The clinic's name"}},
     "variables": {"clinic_name": {"type": "str"}}}
    ```
    """,
)
