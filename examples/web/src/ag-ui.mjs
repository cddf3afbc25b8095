// What agui.html uses of @ag-ui/client, bundled into vendor/ag-ui.js by `npm run build`.
export { HttpAgent } from "@ag-ui/client";
