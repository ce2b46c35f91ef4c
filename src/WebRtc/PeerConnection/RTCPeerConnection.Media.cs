using System.Buffers;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc;

/// <summary>Media API of <see cref="RTCPeerConnection"/>: transceivers, senders, receivers, <c>ontrack</c>.</summary>
public sealed partial class RTCPeerConnection
{
    private readonly List<RTCRtpTransceiver> _transceivers = []; // written on the loop; read under its lock

    /// <summary><c>ontrack</c>: the peer's description makes a transceiver receive media (raised on the loop after the description is applied).</summary>
    public event Action<RTCTrackEvent>? OnTrack;

    /// <summary>W3C <c>getTransceivers()</c>: a snapshot in m-section order of creation.</summary>
    public IReadOnlyList<RTCRtpTransceiver> GetTransceivers()
    {
        lock (_transceivers) return [.. _transceivers];
    }

    /// <summary>
    /// W3C <c>addTransceiver(kind, init)</c>: a transceiver that gets an m-section in our next offer, or takes the
    /// next offered section of its kind when we answer.
    /// </summary>
    public Task<RTCRtpTransceiver> AddTransceiverAsync(MediaKind kind, RTCRtpTransceiverInit? init = null, CancellationToken cancellationToken = default) =>
        InvokeAsync(_ =>
        {
            int index = _core.AddTransceiver(kind, (init ?? new RTCRtpTransceiverInit()).Direction);
            SyncTransceivers();
            lock (_transceivers) return _transceivers[index];
        }, cancellationToken);

    /// <summary>
    /// <c>addTrack</c>-shaped convenience: reuses an offered transceiver of <paramref name="kind"/> that is not sending
    /// yet (making it send) or adds a sendrecv one; returns its sender, to which frames are written.
    /// </summary>
    public Task<RTCRtpSender> AddTrackAsync(MediaKind kind, CancellationToken cancellationToken = default) =>
        InvokeAsync(_ =>
        {
            RTCRtpTransceiver? t;
            lock (_transceivers) t = _transceivers.FirstOrDefault(x => x.Kind == kind && !x.Direction.Sends() && x.Direction != RTCRtpTransceiverDirection.Stopped);
            if (t is not null)
            {
                _core.SetDirection(t.Index, RTCRtpTransceiverDirections.Of(true, t.Direction.Receives()));
                SyncTransceivers();
                return t.Sender;
            }
            int index = _core.AddTransceiver(kind, RTCRtpTransceiverDirection.SendRecv);
            SyncTransceivers();
            lock (_transceivers) return _transceivers[index].Sender;
        }, cancellationToken);

    internal Task SetCodecPreferencesAsync(RTCRtpTransceiver t, IReadOnlyList<MediaCodec> codecs, CancellationToken cancellationToken) =>
        InvokeAsync(_ => { _core.SetCodecPreferences(t.Index, codecs); SyncTransceivers(); return true; }, cancellationToken);

    internal Task SetTransceiverDirectionAsync(RTCRtpTransceiver t, RTCRtpTransceiverDirection direction, CancellationToken cancellationToken) =>
        InvokeAsync(_ => { _core.SetDirection(t.Index, direction); SyncTransceivers(); return true; }, cancellationToken);

    internal Task<RtpTransceiverInfo> GetTransceiverInfoAsync(RTCRtpTransceiver t, CancellationToken cancellationToken) =>
        InvokeAsync(_ => _core.GetTransceiver(t.Index), cancellationToken);

    internal Task<bool> RequestKeyframeAsync(RTCRtpTransceiver t, CancellationToken cancellationToken) =>
        InvokeAsync(_ => _core.RequestKeyframe(t.Index), cancellationToken);

    /// <summary>Posts a keyframe request (PLI) to the loop without waiting; false when the loop is gone.</summary>
    internal bool PostRequestKeyframe(RTCRtpTransceiver t)
    {
        if (_failed || Volatile.Read(ref _closing) != 0) return false;
        return _loop.Post(_ => _core.RequestKeyframe(t.Index));
    }

    /// <summary>
    /// Queues one frame for the transceiver's RTP send stream on the loop (one post per frame). <paramref name="buffer"/>
    /// (rented from <see cref="ArrayPool{T}.Shared"/>, holding the frame's data) goes back to the pool once the core copied it.
    /// </summary>
    internal bool PostFrame(RTCRtpTransceiver t, EncodedFrame frame, byte[] buffer)
    {
        if (_failed || Volatile.Read(ref _closing) != 0) return false;
        return _loop.Post(now =>
        {
            try
            {
                if (!_core.SendFrame(t.Index, frame, now)) t.Sender.CountDropped();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        });
    }

    /// <summary>On the loop: creates API objects for new core transceivers and refreshes every snapshot.</summary>
    private void SyncTransceivers()
    {
        lock (_transceivers)
        {
            for (int i = 0; i < _core.TransceiverCount; i++)
            {
                var info = _core.GetTransceiver(i);
                if (i < _transceivers.Count) _transceivers[i].Update(info);
                else _transceivers.Add(new RTCRtpTransceiver(this, info));
            }
        }
    }

    private void DispatchMedia(PeerConnectionEvent e)
    {
        SyncTransceivers();
        RTCRtpTransceiver t;
        lock (_transceivers)
        {
            if ((uint)e.Transceiver >= (uint)_transceivers.Count) return;
            t = _transceivers[e.Transceiver];
        }
        switch (e.Kind)
        {
            case PeerConnectionEventKind.Track:
                Raise(OnTrack, new RTCTrackEvent(t));
                break;
            case PeerConnectionEventKind.RtpReceived:
                t.Receiver.Drain(_core);
                break;
            case PeerConnectionEventKind.KeyframeRequested:
                WebRtcLog.Event(_log, "keyframe requested on mid", t.Mid);
                Raise(t.Sender.CountKeyframeRequest()); // the handlers run off the loop (issue 14)
                break;
            case PeerConnectionEventKind.BitrateEstimate when t.Info.Stats.BitrateEstimate is { } bps && bps != t.Sender.BitrateEstimate:
                // logged when it changes (Chromium repeats an unchanged REMB every ~200 ms)
                t.Sender.BitrateEstimate = bps;
                WebRtcLog.Event(_log, "REMB (peer's bandwidth estimate, bit/s) on mid " + t.Mid + ":", bps);
                break;
        }
    }

    private void CompleteReceivers()
    {
        lock (_transceivers) foreach (var t in _transceivers) t.Receiver.Complete();
    }
}
