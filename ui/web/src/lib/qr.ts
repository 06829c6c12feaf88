// QR codes as data URLs, drawn locally (no network).
import QRCode from "qrcode";
import { base64ToBytes } from "./safety";

const OPTS = { margin: 2, width: 240, color: { dark: "#000000", light: "#ffffff" } } as const;

/** A QR code of a text (e.g. an invite). */
export function qrFromText(text: string): Promise<string> {
  return QRCode.toDataURL(text, { ...OPTS, errorCorrectionLevel: "M" });
}

/** A QR code of raw bytes given as base64 (the safety number's qr). */
export function qrFromBase64Bytes(b64: string): Promise<string> {
  const bytes = base64ToBytes(b64);
  // qrcode takes Uint8ClampedArray for byte-mode segments.
  const data = new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return QRCode.toDataURL([{ data, mode: "byte" }], { ...OPTS, errorCorrectionLevel: "L" });
}
