using System.Net;
using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Ice;

namespace OspBridge.WebRtc;

/// <summary>The WebRTC driver's log messages (cheap when the level is off).</summary>
internal static class WebRtcLog
{
    private static readonly Action<ILogger, IPAddress, string, Exception?> s_cannotBind =
        LoggerMessage.Define<IPAddress, string>(LogLevel.Warning, new EventId(1, "CannotBind"), "webrtc: cannot bind a UDP socket on {Address}: {Error}");
    private static readonly Action<ILogger, string, Exception?> s_malformedCandidate =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(2, "MalformedCandidate"), "webrtc: ignoring malformed candidate {Candidate}");
    private static readonly Action<ILogger, string, Exception?> s_noResolver =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(3, "NoMdnsResolver"), "webrtc: no mDNS resolver for {Name}; relying on peer-reflexive discovery");
    private static readonly Action<ILogger, string, string, Exception?> s_resolved =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(4, "MdnsResolved"), "webrtc: mDNS {Name} -> {Address}");
    private static readonly Action<ILogger, string, Exception?> s_event =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(5, "Event"), "webrtc: {What}");
    private static readonly Action<ILogger, string, Exception?> s_dtlsFailed =
        LoggerMessage.Define<string>(LogLevel.Warning, new EventId(6, "DtlsFailed"), "webrtc: DTLS failed: {Reason}");
    private static readonly Action<ILogger, Exception?> s_loopFailed =
        LoggerMessage.Define(LogLevel.Error, new EventId(7, "LoopFailed"), "webrtc: internal error, peer connection failed");
    private static readonly Action<ILogger, Exception?> s_closeTimeout =
        LoggerMessage.Define(LogLevel.Warning, new EventId(8, "CloseTimeout"), "webrtc: close: the loop did not answer in 5 s");
    private static readonly Action<ILogger, string, string, Exception?> s_mdns =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(9, "Mdns"), "mdns: {Name}: {What}");
    private static readonly Action<ILogger, string, string, Exception?> s_publishFailed =
        LoggerMessage.Define<string, string>(LogLevel.Warning, new EventId(10, "MdnsPublishFailed"), "mdns: publishing {Name} failed: {Error}");

    public static void CannotBind(ILogger l, IPAddress a, string error) => s_cannotBind(l, a, error, null);
    public static void MalformedCandidate(ILogger l, string c) => s_malformedCandidate(l, c, null);
    public static void NoMdnsResolver(ILogger l, string name) => s_noResolver(l, name, null);
    public static void MdnsResolved(ILogger l, string name, IPAddress? ip)
    {
        if (l.IsEnabled(LogLevel.Debug)) s_resolved(l, name, ip?.ToString() ?? "(no answer)", null);
    }

    /// <summary>A debug line built only when debug logging is on.</summary>
    public static void Event<T>(ILogger l, string what, T detail)
    {
        if (l.IsEnabled(LogLevel.Debug)) s_event(l, what + " " + detail, null);
    }

    public static void DtlsFailed(ILogger l, string? reason) => s_dtlsFailed(l, reason ?? "", null);
    public static void DtlsState(ILogger l, DtlsState s) => Event(l, "DTLS", s);
    public static void LoopFailed(ILogger l, Exception ex) => s_loopFailed(l, ex);
    public static void CloseTimeout(ILogger l) => s_closeTimeout(l, null);
    public static void Candidate(ILogger l, IceCandidate? c) => Event(l, "local candidate", c);

    public static void Mdns(ILogger l, string name, string what)
    {
        if (l.IsEnabled(LogLevel.Debug)) s_mdns(l, name, what, null);
    }

    public static void MdnsPublishFailed(ILogger l, string name, string error) => s_publishFailed(l, name, error, null);
}
