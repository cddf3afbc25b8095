// A small, safe Markdown renderer for agent answers: the text is escaped first, so nothing the
// agent writes can become HTML; only fenced/inline code, emphasis, headings, lists, quotes and
// http(s) links are turned into elements.
"use strict";

const markdown = (() => {
  const escape = (s) =>
    s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

  function inline(text) {
    // text is already escaped; code spans are cut out first so their content stays literal
    const codes = [];
    text = text.replace(/`([^`\n]+)`/g, (_, code) => {
      codes.push(code);
      return `\u0000${codes.length - 1}\u0000`;
    });
    text = text
      .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)"]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
    return text.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
  }

  function render(source) {
    const lines = escape(String(source || "")).split("\n");
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (line.startsWith("```")) {
        const body = [];
        i++;
        while (i < lines.length && !lines[i].startsWith("```")) body.push(lines[i++]);
        i++;
        out.push(`<pre><code>${body.join("\n")}</code></pre>`);
        continue;
      }
      const heading = line.match(/^(#{1,4})\s+(.*)$/);
      if (heading) {
        const level = heading[1].length + 2; // h3…h6 inside a message
        out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
        i++;
        continue;
      }
      if (/^\s*([-*]|\d+\.)\s+/.test(line)) {
        const ordered = /^\s*\d+\./.test(line);
        const items = [];
        while (i < lines.length && /^\s*([-*]|\d+\.)\s+/.test(lines[i])) {
          items.push(`<li>${inline(lines[i].replace(/^\s*([-*]|\d+\.)\s+/, ""))}</li>`);
          i++;
        }
        out.push(ordered ? `<ol>${items.join("")}</ol>` : `<ul>${items.join("")}</ul>`);
        continue;
      }
      if (line.startsWith("&gt; ")) {
        const quote = [];
        while (i < lines.length && lines[i].startsWith("&gt; ")) quote.push(inline(lines[i++].slice(5)));
        out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
        continue;
      }
      if (!line.trim()) {
        i++;
        continue;
      }
      const para = [];
      while (i < lines.length && lines[i].trim() && !/^(```|#{1,4}\s|\s*([-*]|\d+\.)\s|&gt; )/.test(lines[i])) {
        para.push(inline(lines[i++]));
      }
      out.push(`<p>${para.join("<br>")}</p>`);
    }
    return out.join("");
  }

  // Fill an element with rendered Markdown.
  function into(element, source) {
    element.innerHTML = render(source);
    return element;
  }

  return { render, into };
})();
