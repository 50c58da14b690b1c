// Files: upload, list, delete, and one file's details with its bytes.
import { del, fileUrl, get, listAll, upload } from "./api.js";
import { navigate } from "./app.js";
import { bytes, confirmButton, errorBox, field, h, link, page, replace, table, time } from "./ui.js";

const PURPOSES = ["assistants", "vision", "user_data", "batch", "fine-tune", "evals"];

export async function list(main) {
  const files = await listAll("/files", {}, 10000);
  const input = h("input", { type: "file", name: "file", multiple: true, required: true });
  const purpose = h("select", { name: "purpose" }, PURPOSES.map((p) => h("option", { value: p }, p)));
  const problem = h("div.problem");
  const form = h(
    "form.card.upload",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        replace(problem);
        try {
          for (const file of input.files) await upload(file, purpose.value);
          navigate("/files", { replace: true });
        } catch (error) {
          replace(problem, errorBox(error));
        }
      },
    },
    h("div.row", {}, field("File", input), field("Purpose", purpose)),
    h("button.primary", { type: "submit" }, "Upload"),
    problem,
  );
  const rows = files.map((f) =>
    h(
      "tr",
      { "data-file-id": f.id },
      h("td", {}, link(`/files/${f.id}`, f.filename)),
      h("td", {}, h("code", {}, f.id)),
      h("td", {}, f.purpose),
      h("td", {}, bytes(f.bytes)),
      h("td", {}, time(f.created_at)),
      h("td", {}, confirmButton("Delete", async () => {
        await del(`/files/${f.id}`);
        navigate("/files", { replace: true });
      })),
    ),
  );
  replace(main, page("Files"), form, table(["Name", "ID", "Purpose", "Size", "Created", ""], rows, "No files yet."));
}

export async function view(main, [fileId]) {
  const file = await get(`/files/${fileId}`);
  const preview = h("div.preview");
  const show = h("button", { type: "button" }, "Show contents");
  show.addEventListener("click", async () => {
    show.disabled = true;
    try {
      const url = await fileUrl(file.id);
      const blob = await (await fetch(url)).blob();
      if (blob.type.startsWith("image/") || /\.(png|jpe?g|gif|webp)$/i.test(file.filename)) {
        replace(preview, h("img.content-image", { src: url, alt: file.filename }));
      } else {
        replace(preview, h("pre.wrap.file-text", {}, (await blob.text()).slice(0, 200000)));
      }
      preview.append(h("p", {}, h("a", { href: url, download: file.filename }, "Download")));
    } catch (error) {
      replace(preview, errorBox(error));
    }
  });
  replace(
    main,
    page(file.filename),
    h("p.crumbs", {}, link("/files", "Files"), " / ", file.id),
    h(
      "dl.facts.card",
      {},
      h("dt", {}, "ID"), h("dd", {}, h("code", {}, file.id)),
      h("dt", {}, "Purpose"), h("dd", {}, file.purpose),
      h("dt", {}, "Size"), h("dd", {}, bytes(file.bytes)),
      h("dt", {}, "Created"), h("dd", {}, time(file.created_at)),
      h("dt", {}, "Expires"), h("dd", {}, time(file.expires_at)),
    ),
    h("div.actions", {}, show, confirmButton("Delete", async () => {
      await del(`/files/${file.id}`);
      navigate("/files");
    })),
    preview,
  );
}
