// Draw every ```mermaid block (see mkdocs.yml: pymdownx.superfences custom fence).
window.mermaid.initialize({ startOnLoad: true, securityLevel: "strict" });
