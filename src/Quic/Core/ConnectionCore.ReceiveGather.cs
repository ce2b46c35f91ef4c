using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Protection;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Core;

/// <summary>
/// Receive with one copy fewer: a 1-RTT packet's payload is decrypted piece by piece (gathered AES-GCM), and the data
/// of its first STREAM frame goes from the ciphertext straight into where the reader takes it from — the reader's
/// waiting buffer (<see cref="StreamState.PendingRead"/>) and/or the stream's reassembly ring — instead of being
/// decrypted in place and then copied there. Planned before the tag is verified, so the plan has no side effects: the
/// destination is memory no reader can see yet (past everything the ring holds; past what the waiting buffer has been
/// filled with), and only <see cref="ProcessFrames"/>, after authentication, makes the bytes count
/// (<see cref="OnStreamFrame"/> with the plan). Only frames that cannot touch stream receive state (PADDING, PING,
/// ACK) may come before that STREAM frame, and only one frame per packet is placed this way; everything else is
/// decrypted in place as before.
/// </summary>
internal sealed partial class ConnectionCore
{
    /// <summary>STREAM frames with less data than this are decrypted in place (the plan costs more than the copy saves).</summary>
    private const int MinPlacedBytes = 512;

    /// <summary>Where the first STREAM frame's data of the packet being processed was decrypted to.</summary>
    private struct PlacedStreamData
    {
        public int FrameStart;    // payload-relative position of the frame's type byte
        public long StreamId;
        public ulong Offset;
        public int Length;
        public int PendingTake;   // leading bytes that went into the waiting reader's buffer (the rest into the ring)
    }

    private PlacedStreamData _placed;
    private bool _placedActive;

    /// <summary>
    /// Decrypts a 1-RTT packet (header protection already removed) like <see cref="PacketProtector.TryDecrypt"/>; when its
    /// first STREAM frame qualifies, its data lands in the stream's destination (<paramref name="placed"/> true, the plan
    /// in <see cref="_placed"/>) and that part of the payload is left as ciphertext.
    /// </summary>
    private bool TryDecryptPlacing(PacketKeys keys, Span<byte> packet, int pnOffset, int pnLength, ulong pn, out int payloadOffset, out int payloadLength, out bool placed)
    {
        placed = false;
        payloadOffset = pnOffset + pnLength;
        payloadLength = packet.Length - payloadOffset - PacketKeys.TagLength;
        if (payloadLength < 0) return false;
        var payload = packet.Slice(payloadOffset, payloadLength);
        keys.BeginOpenGathered(pn, packet[..payloadOffset], packet[^PacketKeys.TagLength..]);
        int dec = 0;
        Open(keys, payload, ref dec, Math.Min(payloadLength, 64));
        int pos = 0;
        while (pos < payloadLength)
        {
            if (pos >= dec) Open(keys, payload, ref dec, Math.Min(payloadLength, pos + 64));
            byte type = payload[pos];
            if (type == (byte)FrameType.Padding)
            {
                int n = payload[(pos + 1)..dec].IndexOfAnyExcept((byte)0);
                pos = n < 0 ? dec : pos + 1 + n;
                continue;
            }
            if (type == (byte)FrameType.Ping) { pos++; continue; }
            if (type is (byte)FrameType.Ack or (byte)FrameType.AckEcn)
            {
                // self-delimiting: parse what is decrypted, decrypt more until it parses (or it is malformed)
                while (true)
                {
                    var ar = new QuicReader(payload[(pos + 1)..dec]);
                    if (AckFrame.TryRead(ref ar, type == (byte)FrameType.AckEcn, out _)) { pos += 1 + ar.Position; break; }
                    if (dec == payloadLength) goto Rest;
                    Open(keys, payload, ref dec, Math.Min(payloadLength, dec + 256));
                }
                continue;
            }
            if (type is < (byte)FrameType.Stream or > 0x0f) break;
            Open(keys, payload, ref dec, Math.Min(payloadLength, pos + 25)); // the longest STREAM header: type + three 8-byte varints
            var r = new QuicReader(payload[(pos + 1)..]);
            if (!StreamFrame.TryRead(ref r, type, out var f) || f.Data.Length < MinPlacedBytes) break;
            int dataStart = pos + 1 + r.Position - f.Data.Length;
            if (!PlanPlacement((long)f.StreamId, f.Offset, f.Data.Length, out _placed)) break;
            _placed.FrameStart = pos;
            Place(keys, payload, dataStart, ref dec, _placed);
            placed = true;
            break;
        }
    Rest:
        Open(keys, payload, ref dec, payloadLength);
        if (keys.FinishOpenGathered()) return true;
        payload.Clear(); // never leave unauthenticated plaintext behind (as the one-shot open does)
        placed = false;
        return false;
    }

    /// <summary>Decrypts the payload in place up to <paramref name="to"/>.</summary>
    private static void Open(PacketKeys keys, Span<byte> payload, ref int dec, int to)
    {
        if (to <= dec) return;
        keys.OpenUpdate(payload[dec..to], payload[dec..to]);
        dec = to;
    }

    /// <summary>Chooses where a STREAM frame's data would go, without changing any state a reader sees; false: decrypt in place.</summary>
    private bool PlanPlacement(long id, ulong offset, int length, out PlacedStreamData plan)
    {
        plan = default;
        if (!_streams.TryGetValue(id, out var s) || s.Recv is not { } recv || s.PeerResetCode is not null || s.StopSendingCode is not null) return false;
        ulong end = offset + (ulong)length;
        if (end > s.LocalMaxStreamData || (recv.FinalSize is ulong fs && end > fs)) return false; // an error or a drop: the ordinary path decides
        int take = 0;
        if (s.PendingFilled < s.PendingRead.Length && recv.IsEmpty && offset == recv.ReadOffset)
            take = Math.Min(length, s.PendingRead.Length - s.PendingFilled);
        if (take < length && !recv.TryLocateFree(offset + (ulong)take, length - take, out _, out _, out _)) return false;
        plan = new PlacedStreamData { StreamId = id, Offset = offset, Length = length, PendingTake = take };
        return true;
    }

    /// <summary>
    /// Puts the frame's data (payload [<paramref name="dataStart"/>, +length)) into its destination: the part already
    /// decrypted in place (at most the first few dozen bytes) is copied, the rest decrypted straight there.
    /// </summary>
    private void Place(PacketKeys keys, Span<byte> payload, int dataStart, ref int dec, in PlacedStreamData plan)
    {
        var s = _streams[plan.StreamId];
        int take = plan.PendingTake;
        if (take > 0) Put(keys, payload, dataStart, take, ref dec, s.PendingRead.Span.Slice(s.PendingFilled, take));
        int rest = plan.Length - take;
        if (rest > 0)
        {
            s.Recv!.TryLocateFree(plan.Offset + (ulong)take, rest, out var ring, out int index, out int first);
            Put(keys, payload, dataStart + take, first, ref dec, ring.AsSpan(index, first));
            if (first < rest) Put(keys, payload, dataStart + take + first, rest - first, ref dec, ring.AsSpan(0, rest - first));
        }
        Counters.StreamBytesPlaced += plan.Length;
    }

    /// <summary>Payload [<paramref name="at"/>, +<paramref name="length"/>) into <paramref name="dest"/>: copied where already decrypted, decrypted into it beyond.</summary>
    private static void Put(PacketKeys keys, Span<byte> payload, int at, int length, ref int dec, Span<byte> dest)
    {
        if (dec < at) Open(keys, payload, ref dec, at); // (not reached: the header before the data is always decrypted)
        int plain = Math.Min(dec - at, length);
        if (plain > 0) payload.Slice(at, plain).CopyTo(dest);
        if (plain < length)
        {
            keys.OpenUpdate(payload.Slice(at + plain, length - plain), dest[plain..length]);
            dec = at + length;
        }
    }
}
