using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// Shared machinery of the client and server engines: per-level message reassembly (bounded, any CRYPTO
/// split), the transcript, the ordered output queue, key logging and failure latching.
/// </summary>
internal abstract class TlsHandshakeBase : IQuicTlsHandshake
{
    private readonly Queue<TlsOutput> _outputs = new();
    private readonly MessageAssembler[] _assemblers = [new(), new(), new(), new()];
    private readonly TlsWriter _transcript = new(2048);
    private bool _failed;

    protected TlsHandshakeBase(QuicTlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Random);
        Options = options;
    }

    protected QuicTlsOptions Options { get; }
    protected TlsKeySchedule? Schedule { get; set; }
    protected byte[] ClientRandom { get; set; } = [];
    /// <summary>The only level at which handshake bytes are acceptable now.</summary>
    protected TlsEncryptionLevel ExpectedLevel { get; set; } = TlsEncryptionLevel.Initial;

    public bool IsHandshakeComplete { get; protected set; }
    public ReadOnlyMemory<byte> PeerTransportParameters { get; protected set; }
    public string? NegotiatedApplicationProtocol { get; protected set; }
    public Tls13CipherSuite CipherSuite { get; protected set; }
    public X509Certificate2? PeerCertificate { get; protected set; }
    public string? ServerName { get; protected set; }

    public abstract void Start();

    public bool TryGetOutput(out TlsOutput output) => _outputs.TryDequeue(out output);

    public void ProcessCryptoData(TlsEncryptionLevel level, ReadOnlySpan<byte> data)
    {
        if (_failed) throw new CryptoException(CryptoError.InvalidState, "the TLS handshake already failed", TlsAlert.InternalError);
        if ((int)level is < 0 or > 3 || level == (TlsEncryptionLevel)1)
            throw new CryptoException(CryptoError.InvalidState, "unknown encryption level", TlsAlert.InternalError);
        try
        {
            var asm = _assemblers[(int)level];
            while (!data.IsEmpty)
            {
                if (level != ExpectedLevel)
                    throw TlsAlert.Unexpected($"handshake data at {level} while expecting {ExpectedLevel}");
                int used = asm.Append(data);
                data = data[used..];
                if (asm.IsComplete)
                {
                    byte[] message = asm.Take();
                    OnMessage(level, message[0], message);
                }
            }
        }
        catch (CryptoException)
        {
            _failed = true;
            throw;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException)
        {
            _failed = true;
            throw new CryptoException(CryptoError.InternalError, "TLS handshake failed: " + e.Message, TlsAlert.InternalError, e);
        }
    }

    /// <summary>Handles one complete handshake message (<paramref name="message"/> includes the 4-byte header).</summary>
    protected abstract void OnMessage(TlsEncryptionLevel level, byte type, byte[] message);

    /// <summary>Switches the level at which input is accepted; leftover bytes at the old level are an error (RFC 9001 §4.1.3).</summary>
    protected void SwitchReadLevel(TlsEncryptionLevel next)
    {
        if (_assemblers[(int)ExpectedLevel].HasPartial)
            throw TlsAlert.Unexpected("handshake message straddles a key change");
        ExpectedLevel = next;
    }

    /// <summary>True when bytes of the current level are still buffered (must not be, at a key change).</summary>
    protected bool HasBufferedInput(TlsEncryptionLevel level) => _assemblers[(int)level].HasPartial;

    protected void AddToTranscript(ReadOnlySpan<byte> message) => _transcript.WriteBytes(message);

    protected byte[] TranscriptHash() => Schedule!.TranscriptHash(_transcript.Written);

    /// <summary>Replaces ClientHello1 with message_hash(Hash(ClientHello1)) (RFC 8446 §4.4.1).</summary>
    protected void ReplaceTranscriptWithMessageHash()
    {
        byte[] h = TranscriptHash();
        var w = new TlsWriter(8 + h.Length);
        w.WriteU8(TlsHandshakeType.MessageHash);
        w.WriteU24(h.Length);
        w.WriteBytes(h);
        _transcript.Reset();
        _transcript.WriteBytes(w.Written);
    }

    protected void EmitCrypto(TlsEncryptionLevel level, byte[] bytes) =>
        _outputs.Enqueue(new TlsOutput(TlsOutputKind.CryptoData, level, bytes, true, CipherSuite));

    protected void EmitSecret(TlsEncryptionLevel level, bool isWrite, byte[] secret) =>
        _outputs.Enqueue(new TlsOutput(TlsOutputKind.Secret, level, secret, isWrite, CipherSuite));

    protected void EmitComplete()
    {
        IsHandshakeComplete = true;
        _outputs.Enqueue(new TlsOutput(TlsOutputKind.HandshakeComplete, TlsEncryptionLevel.Application, default, false, CipherSuite));
    }

    protected void KeyLog(string label, byte[] secret)
    {
        var log = Options.KeyLog;
        if (log is null) return;
        log.WriteLine($"{label} {Convert.ToHexStringLower(ClientRandom)} {Convert.ToHexStringLower(secret)}");
        log.Flush();
    }

    /// <summary>Validates and stores the peer's Certificate message; returns the leaf.</summary>
    protected X509Certificate2 AcceptPeerCertificates(CertificateMessage cm)
    {
        var leaf = TlsSignatures.LoadCertificate(cm.Certificates[0]);
        var chain = new List<X509Certificate2>(cm.Certificates.Count - 1);
        for (int i = 1; i < cm.Certificates.Count; i++) chain.Add(TlsSignatures.LoadCertificate(cm.Certificates[i]));
        ushort[] schemes;
        try
        {
            schemes = TlsSignatures.SchemesFor(leaf);
        }
        catch (CryptographicException e)
        {
            throw new CryptoException(CryptoError.BadCertificate, "peer certificate key does not parse", TlsAlert.BadCertificate, e);
        }
        if (schemes.Length == 0)
            throw new CryptoException(CryptoError.BadCertificate, "peer certificate key type is not supported", TlsAlert.UnsupportedCertificate);
        bool ok;
        try
        {
            ok = Options.ValidatePeerCertificate?.Invoke(leaf, chain) ?? true;
        }
        catch (Exception e) when (e is not CryptoException)
        {
            throw new CryptoException(CryptoError.BadCertificate, "certificate validation callback threw: " + e.Message, TlsAlert.BadCertificate, e);
        }
        if (!ok) throw new CryptoException(CryptoError.BadCertificate, "peer certificate rejected by the validation callback", TlsAlert.BadCertificate);
        PeerCertificate = leaf;
        return leaf;
    }

    /// <summary>Writes one handshake message into the flight and the transcript.</summary>
    protected void AppendMessage(TlsWriter flight, Action<TlsWriter> write)
    {
        var w = new TlsWriter();
        write(w);
        AddToTranscript(w.Written);
        flight.WriteBytes(w.Written);
    }

    /// <summary>Certificate + CertificateVerify for our certificate (signature over the transcript so far).</summary>
    protected void AppendCertificateAndVerify(TlsWriter flight, X509Certificate2 cert, ushort scheme, bool server)
    {
        var cm = new CertificateMessage();
        cm.Certificates.Add(cert.RawData);
        AppendMessage(flight, cm.Write);
        var cv = new CertificateVerifyMessage { Scheme = scheme, Signature = TlsSignatures.Sign(cert, scheme, TlsSignatures.Content(server, TranscriptHash())) };
        AppendMessage(flight, cv.Write);
    }

    /// <summary>
    /// The peer's CertificateVerify (RFC 8446 §4.4.3): its signature over the transcript so far, made with the leaf
    /// it presented; then the message joins the transcript. The mirror of <see cref="AppendCertificateAndVerify"/>.
    /// </summary>
    protected void VerifyPeerCertificateVerify(byte[] message, X509Certificate2 peerLeaf, bool peerIsServer)
    {
        var cv = CertificateVerifyMessage.Parse(message.AsSpan(4));
        TlsSignatures.Verify(peerLeaf, cv.Scheme, cv.Signature, TlsSignatures.Content(peerIsServer, TranscriptHash()));
        AddToTranscript(message);
    }

    protected static CryptoException NoGroup() => TlsAlert.Failure("no common key exchange group");

    /// <summary>Groups we support, in preference order.</summary>
    internal static readonly ushort[] DefaultGroups = [NamedGroup.X25519, NamedGroup.Secp256r1];

    /// <summary>One level's reassembly buffer: header first, then exactly the announced body (≤ 64 KiB).</summary>
    private sealed class MessageAssembler
    {
        private byte[] _buf = new byte[256];
        private int _len;
        private int _need = 4;

        public bool HasPartial => _len > 0;
        public bool IsComplete => _len >= 4 && _len == _need;

        public int Append(ReadOnlySpan<byte> data)
        {
            int take = Math.Min(data.Length, _need - _len);
            if (_len + take > _buf.Length) Array.Resize(ref _buf, Math.Max(_len + take, Math.Min(_buf.Length * 2, TlsConst.MaxMessageSize + 4)));
            data[..take].CopyTo(_buf.AsSpan(_len));
            _len += take;
            if (_len == 4 && _need == 4)
            {
                int bodyLen = (_buf[1] << 16) | (_buf[2] << 8) | _buf[3];
                if (bodyLen > TlsConst.MaxMessageSize)
                    throw new CryptoException(CryptoError.LimitExceeded, $"handshake message of {bodyLen} bytes exceeds the limit", TlsAlert.IllegalParameter);
                _need = 4 + bodyLen;
            }
            return take;
        }

        public byte[] Take()
        {
            var m = _buf.AsSpan(0, _len).ToArray();
            _len = 0;
            _need = 4;
            if (_buf.Length > 4096) _buf = new byte[256];
            return m;
        }
    }
}
