using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OspBridge.Crypto;
using OspBridge.Crypto.Tls;

namespace OspBridge.Quic.Tests.Support;

/// <summary>
/// A stand-in for the TLS 1.3 engine with the same message flow and output order (ClientHello → ServerHello at
/// Initial; EE/Cert/Finished → client Finished at Handshake), fixed secrets and no real cryptography. Messages are
/// <c>type (1) | length (3) | body</c>; the server flight can be inflated to test anti-amplification.
/// </summary>
internal sealed class FakeTlsHandshake : IQuicTlsHandshake
{
    private readonly bool _client;
    private readonly byte[] _localTp;
    private readonly int _serverFlightPadding;
    private readonly Tls13CipherSuite _suite;
    private readonly Queue<TlsOutput> _out = new();
    private readonly MemoryStream[] _in = [new(), new(), new(), new()];
    private int _state;

    public FakeTlsHandshake(bool client, ReadOnlyMemory<byte> localTp, int serverFlightPadding = 2000, Tls13CipherSuite suite = Tls13CipherSuite.Aes128GcmSha256)
    {
        _client = client;
        _localTp = localTp.ToArray();
        _serverFlightPadding = serverFlightPadding;
        _suite = suite;
    }

    public static Func<ReadOnlyMemory<byte>, IQuicTlsHandshake> Factory(bool client, int serverFlightPadding = 2000, Tls13CipherSuite suite = Tls13CipherSuite.Aes128GcmSha256)
        => tp => new FakeTlsHandshake(client, tp, serverFlightPadding, suite);

    public bool IsHandshakeComplete { get; private set; }
    public ReadOnlyMemory<byte> PeerTransportParameters { get; private set; }
    public string? NegotiatedApplicationProtocol => IsHandshakeComplete ? "fake" : null;
    public Tls13CipherSuite CipherSuite => _suite;
    public X509Certificate2? PeerCertificate => null;
    public string? ServerName => "localhost";

    private int HashLen => _suite == Tls13CipherSuite.Aes256GcmSha384 ? 48 : 32;

    private byte[] Secret(string label)
    {
        var h = SHA384.HashData(Encoding.ASCII.GetBytes(label));
        return h[..HashLen];
    }

    private static byte[] Msg(byte type, ReadOnlySpan<byte> body)
    {
        var m = new byte[4 + body.Length];
        m[0] = type;
        m[1] = (byte)(body.Length >> 16); m[2] = (byte)(body.Length >> 8); m[3] = (byte)body.Length;
        body.CopyTo(m.AsSpan(4));
        return m;
    }

    private static byte[] WithTp(byte[] tp, int padding)
    {
        var b = new byte[2 + tp.Length + padding];
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)tp.Length);
        tp.CopyTo(b, 2);
        for (int i = 0; i < padding; i++) b[2 + tp.Length + i] = (byte)i;
        return b;
    }

    private void Crypto(TlsEncryptionLevel l, byte[] data) => _out.Enqueue(new TlsOutput(TlsOutputKind.CryptoData, l, data, true, _suite));
    private void Sec(TlsEncryptionLevel l, bool write, string label) => _out.Enqueue(new TlsOutput(TlsOutputKind.Secret, l, Secret(label), write, _suite));

    public void Start()
    {
        if (!_client) return;
        Crypto(TlsEncryptionLevel.Initial, Msg(1, WithTp(_localTp, 200)));
        _state = 1;
    }

    public void ProcessCryptoData(TlsEncryptionLevel level, ReadOnlySpan<byte> data)
    {
        var buf = _in[(int)level];
        buf.Write(data);
        if (buf.Length > 100_000) throw new CryptoException(CryptoError.LimitExceeded, "too much", 80);
        while (true)
        {
            var all = buf.GetBuffer().AsSpan(0, (int)buf.Length);
            if (all.Length < 4) return;
            int len = (all[1] << 16) | (all[2] << 8) | all[3];
            if (all.Length < 4 + len) return;
            byte type = all[0];
            var body = all.Slice(4, len).ToArray();
            var rest = all[(4 + len)..].ToArray();
            buf.SetLength(0);
            buf.Write(rest);
            OnMessage(level, type, body);
        }
    }

    private void OnMessage(TlsEncryptionLevel level, byte type, byte[] body)
    {
        if (!_client && level == TlsEncryptionLevel.Initial && type == 1 && _state == 0)
        {
            PeerTransportParameters = body.AsSpan(2, BinaryPrimitives.ReadUInt16BigEndian(body)).ToArray();
            Crypto(TlsEncryptionLevel.Initial, Msg(2, []));
            Sec(TlsEncryptionLevel.Handshake, true, "s hs");
            Sec(TlsEncryptionLevel.Handshake, false, "c hs");
            Crypto(TlsEncryptionLevel.Handshake, Msg(8, WithTp(_localTp, _serverFlightPadding)));
            Crypto(TlsEncryptionLevel.Handshake, Msg(20, []));
            Sec(TlsEncryptionLevel.Application, true, "s ap");
            Sec(TlsEncryptionLevel.Application, false, "c ap");
            _state = 2;
        }
        else if (_client && level == TlsEncryptionLevel.Initial && type == 2 && _state == 1)
        {
            Sec(TlsEncryptionLevel.Handshake, true, "c hs");
            Sec(TlsEncryptionLevel.Handshake, false, "s hs");
            _state = 2;
        }
        else if (_client && level == TlsEncryptionLevel.Handshake && type == 8 && _state == 2)
        {
            PeerTransportParameters = body.AsSpan(2, BinaryPrimitives.ReadUInt16BigEndian(body)).ToArray();
            _state = 3;
        }
        else if (_client && level == TlsEncryptionLevel.Handshake && type == 20 && _state == 3)
        {
            Sec(TlsEncryptionLevel.Application, false, "s ap");
            Crypto(TlsEncryptionLevel.Handshake, Msg(20, []));
            Sec(TlsEncryptionLevel.Application, true, "c ap");
            IsHandshakeComplete = true;
            _out.Enqueue(new TlsOutput(TlsOutputKind.HandshakeComplete, TlsEncryptionLevel.Application, default, false, _suite));
            _state = 4;
        }
        else if (!_client && level == TlsEncryptionLevel.Handshake && type == 20 && _state == 2)
        {
            IsHandshakeComplete = true;
            _out.Enqueue(new TlsOutput(TlsOutputKind.HandshakeComplete, TlsEncryptionLevel.Application, default, false, _suite));
            _state = 4;
        }
        else throw new CryptoException(CryptoError.UnexpectedMessage, $"unexpected fake message {type} at {level} in state {_state}", 10);
    }

    public bool TryGetOutput(out TlsOutput output) => _out.TryDequeue(out output);
}
