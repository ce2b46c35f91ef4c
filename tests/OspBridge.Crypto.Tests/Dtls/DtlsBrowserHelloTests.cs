using System.Buffers.Binary;
using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Dtls.Messages;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>
/// Browser-shaped ClientHellos: fragmented across records and datagrams, out of order, and Chromium/Firefox-style
/// offers of DTLS 1.3 (supported_versions) with X25519MLKEM768 + X25519 key shares that must be negotiated to
/// DTLS 1.2 on P-256. The synthetic hello follows the capture summary in research/webrtc-peerfetch.md §5.3.
/// </summary>
public class DtlsBrowserHelloTests
{
    private static readonly ushort[] ChromeSuites = [0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC009, 0xC013, 0xC00A, 0xC014, 0x009C, 0x002F, 0x0035];

    internal static (ushort, byte[]) SupportedVersions13And12() => (TlsExtensionType.SupportedVersions, [4, 0xFE, 0xFC, 0xFE, 0xFD]);

    internal static (ushort, byte[]) KeyShareMlKemAndX25519(int seed)
    {
        var rng = new Random(seed);
        var mlkem = new byte[1216];
        var x25519 = new byte[32];
        rng.NextBytes(mlkem);
        rng.NextBytes(x25519);
        var w = new byte[2 + 4 + mlkem.Length + 4 + x25519.Length];
        BinaryPrimitives.WriteUInt16BigEndian(w, (ushort)(w.Length - 2));
        BinaryPrimitives.WriteUInt16BigEndian(w.AsSpan(2), NamedGroup.X25519MlKem768);
        BinaryPrimitives.WriteUInt16BigEndian(w.AsSpan(4), (ushort)mlkem.Length);
        mlkem.CopyTo(w, 6);
        int p = 6 + mlkem.Length;
        BinaryPrimitives.WriteUInt16BigEndian(w.AsSpan(p), NamedGroup.X25519);
        BinaryPrimitives.WriteUInt16BigEndian(w.AsSpan(p + 2), 32);
        x25519.CopyTo(w, p + 4);
        return (TlsExtensionType.KeyShare, w);
    }

    /// <summary>A Chromium-148-like WebRTC ClientHello offering DTLS 1.3 and 1.2 (about 1.4 kB).</summary>
    internal static byte[] ChromeLikeClientHelloBody(int seed = 1)
    {
        var ch = new ClientHello();
        new Random(seed).NextBytes(ch.Random);
        ch.CipherSuites.AddRange(ChromeSuites);
        ch.Extensions.Add((TlsExtensionType.UseSrtp, UseSrtpExtension.Serialize([0x0008, 0x0007, 0x0001])));
        ch.Extensions.Add((TlsExtensionType.SupportedGroups, TlsExtensions.U16List([NamedGroup.X25519MlKem768, NamedGroup.X25519, NamedGroup.Secp256r1, NamedGroup.Secp384r1])));
        ch.Extensions.Add((TlsExtensionType.ExtendedMasterSecret, []));
        ch.Extensions.Add((TlsExtensionType.SignatureAlgorithms, TlsExtensions.U16List([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601])));
        ch.Extensions.Add((TlsExtensionType.RenegotiationInfo, [0]));
        ch.Extensions.Add((TlsExtensionType.EcPointFormats, [1, 0]));
        ch.Extensions.Add(SupportedVersions13And12());
        ch.Extensions.Add(KeyShareMlKemAndX25519(seed));
        ch.Extensions.Add((0x002D, [1, 1])); // psk_key_exchange_modes (DTLS 1.3 only): ignored
        return ch.Serialize();
    }

    /// <summary>Builds one datagram holding one record with one handshake fragment.</summary>
    internal static byte[] Record(byte msgType, ushort msgSeq, byte[] body, int offset, int length, ulong recordSeq, ushort recordVersion = 0xFEFD)
    {
        var d = new byte[13 + 12 + length];
        new DtlsRecordHeader(TlsContentType.Handshake, recordVersion, 0, recordSeq, (ushort)(12 + length)).Write(d);
        new DtlsHandshakeHeader(msgType, body.Length, msgSeq, offset, length).Write(d.AsSpan(13));
        body.AsSpan(offset, length).CopyTo(d.AsSpan(25));
        return d;
    }

    /// <summary>Splits every epoch-0 handshake fragment into pieces of at most <paramref name="piece"/> bytes, one record per datagram, shuffled, one repeated.</summary>
    internal static IEnumerable<byte[]> Refragment(byte[] datagram, int piece, Random rng)
    {
        var output = new List<byte[]>();
        ReadOnlySpan<byte> rest = datagram;
        while (DtlsRecordHeader.TryRead(rest, out var h))
        {
            var frag = rest.Slice(13, h.Length);
            if (h.Epoch == 0 && h.ContentType == TlsContentType.Handshake)
            {
                while (DtlsHandshakeHeader.TryRead(frag, out var hh))
                {
                    var body = new byte[hh.Length];
                    frag.Slice(12, hh.FragmentLength).CopyTo(body.AsSpan(hh.FragmentOffset));
                    for (int off = hh.FragmentOffset; off < hh.FragmentOffset + hh.FragmentLength || (hh.FragmentLength == 0 && off == hh.FragmentOffset); off += piece)
                    {
                        int len = Math.Min(piece, hh.FragmentOffset + hh.FragmentLength - off);
                        output.Add(Record(hh.MessageType, hh.MessageSeq, body, off, len, (ulong)rng.Next(0, 1 << 20)));
                        if (len == 0) break;
                    }
                    frag = frag[(12 + hh.FragmentLength)..];
                }
            }
            else
            {
                output.Add(rest[..(13 + h.Length)].ToArray());
            }
            rest = rest[(13 + h.Length)..];
        }
        var shuffled = output.OrderBy(_ => rng.Next()).ToList();
        if (shuffled.Count > 1) shuffled.Add(shuffled[rng.Next(shuffled.Count)]);
        return shuffled;
    }

    [Fact]
    public void ClientHello_FragmentedAcrossRecords_OutOfOrder_CompletesHandshake()
    {
        var rng = new Random(42);
        using var pair = new DtlsTestPair();
        int helloPieces = 0;
        pair.ToServerTransform = d =>
        {
            var pieces = Refragment(d, 37, rng).ToList();
            helloPieces += pieces.Count(p => p[0] == TlsContentType.Handshake && p[13] == TlsHandshakeType.ClientHello);
            return pieces;
        };
        Assert.True(pair.Handshake(TimeSpan.FromSeconds(30)), $"client {pair.Client.State} server {pair.Server.State}");
        Assert.True(helloPieces >= 8, $"only {helloPieces} ClientHello fragments"); // two hellos of ~150 bytes in 37-byte pieces
        Assert.Equal(pair.Client.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56), pair.Server.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56));
    }

    [Fact]
    public void ChromeLikeClientHello_TwoRecordsReversed_ServerAnswersDtls12OnP256()
    {
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true, UseHelloVerifyRequest = false });
        var body = ChromeLikeClientHelloBody();
        Assert.True(body.Length > 1300, $"hello is {body.Length} bytes");
        int half = 1100;
        // second part first, the first record with version DTLS 1.0 as browsers use for the initial hello
        server.Receive(Record(1, 0, body, half, body.Length - half, 1), TimeSpan.Zero);
        Assert.False(server.TryPollDatagram(out _));
        server.Receive(Record(1, 0, body, 0, half, 0, recordVersion: 0xFEFF), TimeSpan.Zero);
        var flight = new List<byte[]>();
        while (server.TryPollDatagram(out var d)) flight.Add(d.ToArray());
        Assert.NotEmpty(flight);

        var messages = ReassembleFlight(flight);
        Assert.Equal([2, 11, 12, 13, 14], messages.Select(m => m.Type).ToArray());
        var sh = ServerHello.Parse(messages[0].Body);
        Assert.Equal(0xFEFD, sh.Version);
        Assert.Equal(0xC02B, sh.CipherSuite);
        Assert.Null(TlsExtensions.Find(sh.Extensions, TlsExtensionType.SupportedVersions));
        Assert.Null(TlsExtensions.Find(sh.Extensions, TlsExtensionType.KeyShare));
        Assert.NotNull(TlsExtensions.Find(sh.Extensions, TlsExtensionType.ExtendedMasterSecret));
        Assert.Equal(UseSrtpExtension.Serialize([0x0007]), TlsExtensions.Find(sh.Extensions, TlsExtensionType.UseSrtp));
        var ske = ServerKeyExchange.Parse(messages[2].Body);
        Assert.Equal(NamedGroup.Secp256r1, ske.Group);
        Assert.Equal(65, ske.PublicKey.Length);
        var cr = DtlsCertificateRequest.Parse(messages[3].Body);
        Assert.Contains(DtlsCertificateRequest.EcdsaSign, cr.CertificateTypes);
        Assert.Contains(SignatureScheme.EcdsaSecp256r1Sha256, cr.SignatureSchemes);
        Assert.Equal(DtlsState.Connecting, server.State);
    }

    [Fact]
    public void ChromeLikeClient_OfferingDtls13AndPostQuantumShares_FullHandshakeOnDtls12()
    {
        using var pair = new DtlsTestPair(client: o => new DtlsOptions
        {
            IsClient = true,
            Certificate = o.Certificate,
            RemoteFingerprint = o.RemoteFingerprint,
            OfferedGroups = [NamedGroup.X25519MlKem768, NamedGroup.X25519, NamedGroup.Secp256r1, NamedGroup.Secp384r1],
            ExtraClientHelloExtensions = [SupportedVersions13And12(), KeyShareMlKemAndX25519(3)],
        });
        Assert.True(pair.Handshake());
        // the ~1.4 kB ClientHello did not fit one 1200-byte datagram: our client fragmented it
        Assert.True(DtlsHandshakeHeader.TryRead(pair.ClientToServerDatagrams[0].AsSpan(13), out var first));
        Assert.Equal((1, 0), (first.MessageType, first.FragmentOffset));
        Assert.True(first.Length > 1300 && first.FragmentLength < first.Length, $"{first}");
        Assert.True(DtlsHandshakeHeader.TryRead(pair.ClientToServerDatagrams[1].AsSpan(13), out var second));
        Assert.Equal((1, first.FragmentLength, first.Length), (second.MessageType, second.FragmentOffset, second.FragmentOffset + second.FragmentLength));
        Assert.All(pair.ClientToServerDatagrams, d => Assert.True(d.Length <= 1200));
        Assert.Equal(DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, pair.Server.CipherSuite);
    }

    [Fact]
    public void ClientHello_WithoutP256_FailsWithHandshakeFailure()
    {
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true, UseHelloVerifyRequest = false });
        var ch = ClientHello.Parse(ChromeLikeClientHelloBody());
        ch.Extensions.RemoveAll(e => e.Type == TlsExtensionType.SupportedGroups);
        ch.Extensions.Add((TlsExtensionType.SupportedGroups, TlsExtensions.U16List([NamedGroup.X25519])));
        var body = ch.Serialize();
        var ex = server.ReceiveExpectingFailure(Record(1, 0, body, 0, body.Length, 0), TimeSpan.Zero);
        Assert.Equal(CryptoError.HandshakeFailure, ex.Error);
        Assert.Equal(DtlsState.Failed, server.State);
        Assert.True(server.TryPollDatagram(out var alert));
        Assert.Equal(Convert.FromHexString("15FEFD0000000000000000000202" + "28"), alert.ToArray()); // fatal handshake_failure, epoch 0
    }

    [Fact]
    public void Dtls10OnlyClientHello_FailsWithProtocolVersion()
    {
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true, UseHelloVerifyRequest = false });
        var ch = ClientHello.Parse(ChromeLikeClientHelloBody());
        ch.Version = 0xFEFF;
        var body = ch.Serialize();
        var ex = server.ReceiveExpectingFailure(Record(1, 0, body, 0, body.Length, 0), TimeSpan.Zero);
        Assert.Equal(70, ex.Alert);
    }

    internal static List<(byte Type, byte[] Body)> ReassembleFlight(IEnumerable<byte[]> datagrams)
    {
        var r = new HandshakeReassembler();
        bool first = true;
        var list = new List<(byte, byte[])>();
        foreach (var dg in datagrams)
        {
            ReadOnlySpan<byte> rest = dg;
            while (DtlsRecordHeader.TryRead(rest, out var h))
            {
                var frag = rest.Slice(13, h.Length);
                if (h.Epoch == 0 && h.ContentType == TlsContentType.Handshake)
                {
                    while (DtlsHandshakeHeader.TryRead(frag, out var hh))
                    {
                        if (first) { r.Reset(hh.MessageSeq); first = false; }
                        r.Add(hh, frag.Slice(12, hh.FragmentLength), 0);
                        frag = frag[(12 + hh.FragmentLength)..];
                    }
                }
                rest = rest[(13 + h.Length)..];
            }
            while (r.TryTakeNext(out var t, out _, out var b, out _)) list.Add((t, b));
        }
        return list;
    }
}
