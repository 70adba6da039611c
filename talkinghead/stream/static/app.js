// talkinghead live: send speech over WebRTC, receive the avatar's video and audio.
"use strict";

const $ = (id) => document.getElementById(id);
let pc = null;
let audioContext = null;

function status(text) { $("status").textContent = text; }
function choice(name) { return document.querySelector(`input[name=${name}]:checked`).value; }

async function portraitId() {
  if (choice("portrait") === "default") return "default";
  const file = $("portrait-file").files[0];
  if (!file) throw new Error("choose a portrait image first");
  status("registering portrait...");
  const response = await fetch("/portrait", { method: "POST", body: file });
  if (!response.ok) throw new Error(await response.text());
  return (await response.json()).portrait;
}

async function speechStream() {
  if (choice("source") === "mic") {
    return navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
  }
  const file = $("audio-file").files[0];
  if (!file) throw new Error("choose an audio file first");
  // Decode locally and play it into the call: the file never leaves the browser as a file.
  audioContext = new AudioContext();
  const buffer = await audioContext.decodeAudioData(await file.arrayBuffer());
  const source = audioContext.createBufferSource();
  source.buffer = buffer;
  const destination = audioContext.createMediaStreamDestination();
  source.connect(destination);
  source.start();
  return destination.stream;
}

function waitForIce(connection) {
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (connection.iceGatheringState === "complete") {
        connection.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    connection.addEventListener("icegatheringstatechange", check);
  });
}

async function start() {
  $("start").disabled = true;
  try {
    const portrait = await portraitId();
    const speech = await speechStream();
    pc = new RTCPeerConnection();
    const remote = new MediaStream();
    $("avatar").srcObject = remote;
    pc.addEventListener("track", (event) => remote.addTrack(event.track));
    pc.addEventListener("connectionstatechange", () => status(pc ? pc.connectionState : "closed"));
    for (const track of speech.getAudioTracks()) pc.addTrack(track, speech);
    pc.addTransceiver("video", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc);
    status("connecting...");
    const controls = {
      pose_scale: parseFloat($("pose-scale").value),
      expression: $("expression").value,
      expression_intensity: parseFloat($("intensity").value),
    };
    const response = await fetch("/offer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", portrait, controls }),
    });
    if (!response.ok) throw new Error(await response.text());
    await pc.setRemoteDescription(await response.json());
    $("stop").disabled = false;
  } catch (error) {
    status(`error: ${error.message}`);
    stop();
  }
}

function stop() {
  if (pc) {
    for (const sender of pc.getSenders()) if (sender.track) sender.track.stop();
    pc.close();
    pc = null;
  }
  if (audioContext) { audioContext.close(); audioContext = null; }
  $("start").disabled = false;
  $("stop").disabled = true;
  if (!$("status").textContent.startsWith("error")) status("stopped");
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
