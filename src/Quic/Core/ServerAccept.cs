using System.Buffers;
using System.Security.Cryptography;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Core;

internal enum AcceptDecision { Drop, Accept, VersionNegotiation, Retry }

/// <summary>What a new server connection needs from the client's first Initial.</summary>
internal readonly record struct AcceptInfo(byte[] OriginalDcid, byte[] ClientDcid, byte[] ClientScid, byte[]? RetrySourceCid);

/// <summary>
/// Stateless checks a server endpoint does on a datagram that matches no connection (RFC 9000 §5.2.2, §6, §8.1,
/// §14.1): version negotiation for unknown versions, the 1200-byte minimum, and optional Retry address validation.
/// </summary>
internal static class ServerAccept
{
    /// <param name="datagram">The datagram that matched no connection.</param>
    /// <param name="retry">The endpoint's Retry tokens (null: it never sends Retry and ignores tokens).</param>
    /// <param name="requireRetry">
    /// Validate this client's address with a Retry round trip: always (<c>UseRetry</c>) or while the listener is
    /// under load. When false, a valid Retry token is still honoured (it may come from an earlier Retry) and an
    /// invalid one is ignored.
    /// </param>
    /// <param name="clientAddress">The client's address bytes (bound into Retry tokens).</param>
    /// <param name="now">Current time.</param>
    /// <param name="localCidLength">Length of the connection IDs this endpoint issues.</param>
    /// <param name="random">Randomness for the unused bits of Version Negotiation and Retry and the Retry's SCID.</param>
    /// <param name="response">Where a Version Negotiation or Retry packet is written.</param>
    /// <param name="responseLength">Length of that packet.</param>
    /// <param name="info">What a new connection needs (on <see cref="AcceptDecision.Accept"/>).</param>
    public static AcceptDecision Inspect(ReadOnlySpan<byte> datagram, RetryTokens? retry, bool requireRetry, ReadOnlySpan<byte> clientAddress, TimeSpan now,
        int localCidLength, RandomNumberGenerator random, Span<byte> response, out int responseLength, out AcceptInfo info)
    {
        responseLength = 0;
        info = default;
        if (!PacketHeader.TryParse(datagram, localCidLength, out var h) || !h.IsLong) return AcceptDecision.Drop;
        if (h.Version == 0) return AcceptDecision.Drop;
        var dcid = datagram.Slice(h.DcidOffset, h.DcidLength);
        var scid = datagram.Slice(h.ScidOffset, h.ScidLength);
        if (h.Version != PacketHeader.Version1)
        {
            if (datagram.Length < 1200 || dcid.Length > 255) return AcceptDecision.Drop;
            uint[] versions = [PacketHeader.Version1, 0x1a2a3a4a]; // plus a GREASE version
            responseLength = VersionNegotiationPacket.Write(response, scid, dcid, versions, RandomByte(random));
            return responseLength > 0 ? AcceptDecision.VersionNegotiation : AcceptDecision.Drop;
        }
        if (h.Type != LongPacketType.Initial || datagram.Length < 1200 || dcid.Length < 8) return AcceptDecision.Drop;
        // An Initial that does not decrypt under the keys its DCID implies costs neither state nor a reply (issue 9).
        if (!InitialDecrypts(datagram[..h.PacketLength], h)) return AcceptDecision.Drop;
        var token = datagram.Slice(h.TokenOffset, h.TokenLength);
        if (retry is not null && (requireRetry || !token.IsEmpty))
        {
            if (token.IsEmpty)
            {
                var newScid = ConnectionCore.RandomBytes(random, Math.Max(localCidLength, 8));
                var t = retry.Issue(clientAddress, dcid, now);
                responseLength = RetryPacket.Write(response, scid, newScid, t, dcid, (byte)(RandomByte(random) & 0x0f));
                return responseLength > 0 ? AcceptDecision.Retry : AcceptDecision.Drop;
            }
            if (retry.TryValidate(token, clientAddress, now, out var odcid))
            {
                info = new AcceptInfo(odcid, dcid.ToArray(), scid.ToArray(), dcid.ToArray());
                return AcceptDecision.Accept;
            }
            if (requireRetry) return AcceptDecision.Drop; // invalid token (could be a NEW_TOKEN token we never issue)
        }
        info = new AcceptInfo(dcid.ToArray(), dcid.ToArray(), scid.ToArray(), null);
        return AcceptDecision.Accept;
    }

    /// <summary>
    /// Trial-decrypts a client Initial (header protection and AEAD) under the Initial keys derived from its DCID
    /// (RFC 9001 §5.2), on a copy: true when it authenticates. Costs a key derivation and one AES-GCM open, keeps
    /// nothing. Everyone can compute these keys, so this only filters junk; it proves nothing about the sender.
    /// </summary>
    public static bool InitialDecrypts(ReadOnlySpan<byte> packet, in PacketHeader h)
    {
        if (!h.IsLong || h.Type != LongPacketType.Initial || packet.Length < h.PnOffset + 4 + HeaderProtection.SampleLength
            || (packet[0] & 0x40) == 0) return false;
        byte[] copy = ArrayPool<byte>.Shared.Rent(packet.Length);
        var (read, write) = InitialSecrets.CreateKeys(packet.Slice(h.DcidOffset, h.DcidLength), isClient: false);
        try
        {
            var p = copy.AsSpan(0, packet.Length);
            packet.CopyTo(p);
            if (!PacketProtector.TryRemoveHeaderProtection(read.HeaderProtection, p, h.PnOffset, out int pnLength, out uint truncated)) return false;
            ulong pn = PacketNumber.Decode(-1, truncated, pnLength * 8);
            return PacketProtector.TryDecrypt(read, p, h.PnOffset, pnLength, pn, out _, out _);
        }
        finally
        {
            read.HeaderProtection.Dispose();
            write.HeaderProtection.Dispose();
            read.Dispose();
            write.Dispose();
            ArrayPool<byte>.Shared.Return(copy, clearArray: true);
        }
    }

    /// <summary>
    /// Answers a short-header packet for an unknown connection with a stateless reset (RFC 9000 §10.3): the token is
    /// derived from the DCID with the endpoint's static key, so the peer recognises it. The reset is shorter than the
    /// packet that triggered it (and at least 21 bytes), which rules out reset loops (§10.3.3).
    /// </summary>
    public static int StatelessResetFor(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> staticKey, int localCidLength, RandomNumberGenerator random, Span<byte> response)
    {
        if (localCidLength == 0 || datagram.Length < 1 + localCidLength + 21 || (datagram[0] & 0x80) != 0) return 0;
        Span<byte> token = stackalloc byte[16];
        StatelessReset.ComputeToken(staticKey, datagram.Slice(1, localCidLength), token);
        int length = Math.Max(StatelessReset.MinLength, Math.Min(datagram.Length - 1, 43));
        return StatelessReset.Write(response, length, token, random);
    }

    private static byte RandomByte(RandomNumberGenerator random)
    {
        Span<byte> b = stackalloc byte[1];
        random.GetBytes(b);
        return b[0];
    }

    /// <summary>Creates the server core for an accepted Initial.</summary>
    public static ConnectionCore CreateServer(CoreOptions options, Func<ReadOnlyMemory<byte>, OspBridge.Crypto.Tls.IQuicTlsHandshake> tlsFactory, in AcceptInfo info)
    {
        options.IsClient = false;
        var localCid = ConnectionCore.RandomBytes(options.Random, options.LocalCidLength);
        // Initial keys come from the DCID of the packet being answered (the Retry SCID after a Retry).
        return new ConnectionCore(options, tlsFactory, info.OriginalDcid, localCid, info.ClientScid, info.RetrySourceCid, info.ClientDcid);
    }
}
